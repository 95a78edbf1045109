"""The interactive menus (admin-cli.md §5-§11): one module per main-menu item."""
