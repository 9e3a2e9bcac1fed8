"""`python -m kubectl_meshdebug` runs the same entry point as the console script."""

from kubectl_meshdebug.cli.main import main

if __name__ == "__main__":
    main()
