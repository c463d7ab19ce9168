from helpers.training.cli import main

raise SystemExit(main())
