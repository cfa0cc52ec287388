"""`python -m codeguard.cli`."""
from codeguard.cli.main import main

raise SystemExit(main())
