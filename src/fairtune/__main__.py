from fairtune.cli import main

raise SystemExit(main())
