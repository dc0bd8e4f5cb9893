"""`python -m termshift.stack`: what `scripts/up` runs."""

from termshift.stack.app import main

raise SystemExit(main())
