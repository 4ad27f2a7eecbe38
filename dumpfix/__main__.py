from dumpfix.cli import main

raise SystemExit(main())
