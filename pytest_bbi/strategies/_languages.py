"""Non-English prompt templates and word lists, one entry per language, in its own script."""

from __future__ import annotations

from typing import NamedTuple


class Language(NamedTuple):
    """One language's templates and the words that fill them.

    Attributes:
        name: the language's English name.
        templates: ``str.format`` strings with the fields ``{country}``, ``{topic}``, ``{a}``
            and ``{b}`` (two numbers) and ``{tail}``; the first has the fewest fields.
        countries: country names, inflected as the templates need them.
        topics: topics to explain or write about, inflected as the templates need them.
        tails: endings for a question ("Answer briefly."), the empty one first.
    """

    name: str
    templates: tuple[str, ...]
    countries: tuple[str, ...]
    topics: tuple[str, ...]
    tails: tuple[str, ...]


# Every language lists the same ten countries and eight topics, in the same order.
LANGUAGES: tuple[Language, ...] = (
    Language(
        "Spanish",
        (
            "¿Cuál es la capital de {country}?",
            "Explícame {topic} en pocas palabras.{tail}",
            "¿Cuánto es {a} más {b}?{tail}",
            "Escribe un poema corto sobre {topic}.",
        ),
        (
            "Perú",
            "Japón",
            "Kenia",
            "Brasil",
            "Canadá",
            "Noruega",
            "Egipto",
            "la India",
            "México",
            "Alemania",
        ),
        (
            "la fotosíntesis",
            "la inflación",
            "la gravedad",
            "el cambio climático",
            "la democracia",
            "el sistema inmunitario",
            "la inteligencia artificial",
            "la Revolución francesa",
        ),
        (
            "",
            " Responde brevemente.",
            " Explica tu razonamiento.",
        ),
    ),
    Language(
        "French",
        (
            "Quelle est la capitale {country} ?",
            "Explique-moi {topic} simplement.{tail}",
            "Combien font {a} plus {b} ?{tail}",
            "Écris un court poème sur {topic}.",
        ),
        (
            "du Pérou",
            "du Japon",
            "du Kenya",
            "du Brésil",
            "du Canada",
            "de la Norvège",
            "de l'Égypte",
            "de l'Inde",
            "du Mexique",
            "de l'Allemagne",
        ),
        (
            "la photosynthèse",
            "l'inflation",
            "la gravité",
            "le changement climatique",
            "la démocratie",
            "le système immunitaire",
            "l'intelligence artificielle",
            "la Révolution française",
        ),
        (
            "",
            " Réponds brièvement.",
            " Explique ton raisonnement.",
        ),
    ),
    Language(
        "German",
        (
            "Was ist die Hauptstadt von {country}?",
            "Erkläre mir {topic} in einfachen Worten.{tail}",
            "Wie viel ist {a} plus {b}?{tail}",
            "Schreib ein kurzes Gedicht über {topic}.",
        ),
        (
            "Peru",
            "Japan",
            "Kenia",
            "Brasilien",
            "Kanada",
            "Norwegen",
            "Ägypten",
            "Indien",
            "Mexiko",
            "Deutschland",
        ),
        (
            "die Photosynthese",
            "die Inflation",
            "die Schwerkraft",
            "den Klimawandel",
            "die Demokratie",
            "das Immunsystem",
            "die künstliche Intelligenz",
            "die Französische Revolution",
        ),
        (
            "",
            " Antworte kurz.",
            " Erkläre deine Überlegung.",
        ),
    ),
    Language(
        "Portuguese",
        (
            "Qual é a capital {country}?",
            "Explique {topic} em palavras simples.{tail}",
            "Quanto é {a} mais {b}?{tail}",
            "Escreva um poema curto sobre {topic}.",
        ),
        (
            "do Peru",
            "do Japão",
            "do Quênia",
            "do Brasil",
            "do Canadá",
            "da Noruega",
            "do Egito",
            "da Índia",
            "do México",
            "da Alemanha",
        ),
        (
            "a fotossíntese",
            "a inflação",
            "a gravidade",
            "as mudanças climáticas",
            "a democracia",
            "o sistema imunológico",
            "a inteligência artificial",
            "a Revolução Francesa",
        ),
        (
            "",
            " Responda de forma breve.",
            " Explique seu raciocínio.",
        ),
    ),
    Language(
        "Russian",
        (
            "Какая столица {country}?",
            "Объясни простыми словами, что такое {topic}.{tail}",
            "Сколько будет {a} плюс {b}?{tail}",
            "Напиши короткое стихотворение на тему «{topic}».",
        ),
        (
            "Перу",
            "Японии",
            "Кении",
            "Бразилии",
            "Канады",
            "Норвегии",
            "Египта",
            "Индии",
            "Мексики",
            "Германии",
        ),
        (
            "фотосинтез",
            "инфляция",
            "гравитация",
            "изменение климата",
            "демократия",
            "иммунная система",
            "искусственный интеллект",
            "Французская революция",
        ),
        (
            "",
            " Ответь кратко.",
            " Объясни ход рассуждений.",
        ),
    ),
    Language(
        "Chinese",
        (
            "{country}的首都是哪里？",
            "请用简单的话解释{topic}。{tail}",
            "{a}加{b}等于多少？{tail}",
            "写一首关于{topic}的短诗。",
        ),
        (
            "秘鲁",
            "日本",
            "肯尼亚",
            "巴西",
            "加拿大",
            "挪威",
            "埃及",
            "印度",
            "墨西哥",
            "德国",
        ),
        (
            "光合作用",
            "通货膨胀",
            "重力",
            "气候变化",
            "民主",
            "免疫系统",
            "人工智能",
            "法国大革命",
        ),
        (
            "",
            "请简短回答。",
            "请解释你的思路。",
        ),
    ),
    Language(
        "Japanese",
        (
            "{country}の首都はどこですか？",
            "{topic}について簡単に説明してください。{tail}",
            "{a}足す{b}はいくつですか？{tail}",
            "{topic}についての短い詩を書いてください。",
        ),
        (
            "ペルー",
            "日本",
            "ケニア",
            "ブラジル",
            "カナダ",
            "ノルウェー",
            "エジプト",
            "インド",
            "メキシコ",
            "ドイツ",
        ),
        (
            "光合成",
            "インフレ",
            "重力",
            "気候変動",
            "民主主義",
            "免疫系",
            "人工知能",
            "フランス革命",
        ),
        (
            "",
            "簡潔に答えてください。",
            "理由も説明してください。",
        ),
    ),
    Language(
        "Korean",
        (
            "{country}의 수도는 어디인가요?",
            "{topic}에 대해 쉽게 설명해 주세요.{tail}",
            "{a} 더하기 {b}의 답은 무엇인가요?{tail}",
            "{topic}에 관한 짧은 시를 써 주세요.",
        ),
        (
            "페루",
            "일본",
            "케냐",
            "브라질",
            "캐나다",
            "노르웨이",
            "이집트",
            "인도",
            "멕시코",
            "독일",
        ),
        (
            "광합성",
            "인플레이션",
            "중력",
            "기후 변화",
            "민주주의",
            "면역 체계",
            "인공지능",
            "프랑스 혁명",
        ),
        (
            "",
            " 짧게 대답해 주세요.",
            " 이유도 설명해 주세요.",
        ),
    ),
    Language(
        "Arabic",
        (
            "ما هي عاصمة {country}؟",
            "اشرح لي {topic} بكلمات بسيطة.{tail}",
            "كم يساوي {a} زائد {b}؟{tail}",
            "اكتب قصيدة قصيرة عن {topic}.",
        ),
        (
            "بيرو",
            "اليابان",
            "كينيا",
            "البرازيل",
            "كندا",
            "النرويج",
            "مصر",
            "الهند",
            "المكسيك",
            "ألمانيا",
        ),
        (
            "التمثيل الضوئي",
            "التضخم",
            "الجاذبية",
            "تغير المناخ",
            "الديمقراطية",
            "جهاز المناعة",
            "الذكاء الاصطناعي",
            "الثورة الفرنسية",
        ),
        (
            "",
            " أجب باختصار.",
            " اشرح طريقة تفكيرك.",
        ),
    ),
    Language(
        "Hindi",
        (
            "{country} की राजधानी क्या है?",
            "{topic} को आसान शब्दों में समझाइए।{tail}",
            "{a} और {b} का योग कितना है?{tail}",
            "{topic} पर एक छोटी कविता लिखिए।",
        ),
        (
            "पेरू",
            "जापान",
            "केन्या",
            "ब्राज़ील",
            "कनाडा",
            "नॉर्वे",
            "मिस्र",
            "भारत",
            "मेक्सिको",
            "जर्मनी",
        ),
        (
            "प्रकाश संश्लेषण",
            "मुद्रास्फीति",
            "गुरुत्वाकर्षण",
            "जलवायु परिवर्तन",
            "लोकतंत्र",
            "प्रतिरक्षा प्रणाली",
            "कृत्रिम बुद्धिमत्ता",
            "फ्रांसीसी क्रांति",
        ),
        (
            "",
            " संक्षेप में उत्तर दीजिए।",
            " अपना तर्क भी समझाइए।",
        ),
    ),
)
