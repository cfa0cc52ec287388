"""Programming languages: the registry (keywords and their sources, as data), the code corpus, and lexing."""
