"""The identification game: setup, acquisition, play, the round loop, the decision and its aids.

``setup`` checks the arguments and plans the queries (shared with ``fingerprint()``),
``acquisition`` chooses what each round asks, ``play`` generates and scores one round, ``run``
is the round loop, ``decision`` holds every rule of pass or fail, ``certificate`` the white-box
bound and ``calibration`` the student's calibration report.
"""
