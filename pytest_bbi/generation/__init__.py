"""Generation: the completion caches shared by xdist workers, progress lines, and seeding."""
