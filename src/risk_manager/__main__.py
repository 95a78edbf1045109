"""Allow ``python -m risk_manager``."""

from risk_manager.cli.main import main

if __name__ == "__main__":
    main()
