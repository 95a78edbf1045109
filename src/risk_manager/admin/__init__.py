"""The admin console (``risk-manager admin``): menus for people, subcommands for scripts (admin-cli.md).

Layers, top to bottom: ``app`` (typer entry, global options) → ``screens/`` (interactive menus) and
``commands/`` (scripted subcommands), both calling the same ``actions`` → the model modules
(``config_files``, ``rule_fields``, ``accounts_edit``, ``password``, ``audit``, ``daemon_client``,
``conn_tests``, ``logs``, ``lockouts``, ``service_control``) → ``ui`` for every line printed.
"""
