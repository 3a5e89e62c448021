from spacecoop.cli import main

raise SystemExit(main())
