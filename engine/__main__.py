import sys

try:  # Ctrl-C while torch imports (a second or more) ends quietly, like Ctrl-C later on
    from engine.cli import main
except KeyboardInterrupt:
    print("interrupted", file=sys.stderr)
    sys.exit(130)

sys.exit(main())
