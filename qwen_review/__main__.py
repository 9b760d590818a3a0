from qwen_review.cli import main

raise SystemExit(main())
