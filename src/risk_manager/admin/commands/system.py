"""Subcommands: status, service, test (and test notify), logs, enforcement, lockouts, unlock, password
(admin-cli.md §14)."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Any

import typer

from risk_manager.admin import exits
from risk_manager.admin.app import run_scripted
from risk_manager.admin.exits import AdminExit

PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the admin password from the first line of stdin.")
]
Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
Yes = Annotated[bool, typer.Option("--yes", help="Confirm (stop and uninstall remove protection).")]
NewStdin = Annotated[
    bool,
    typer.Option("--new-password-stdin", help="Read the new password from stdin (after the current one)."),
]


def _echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def _date(text: str | None, option: str) -> date | None:
    from risk_manager.admin.logs import parse_day

    try:
        return parse_day(text, option)
    except ValueError as exc:
        raise AdminExit(exits.USAGE, str(exc)) from None


def register(app: typer.Typer) -> None:
    @app.command("status")
    def status(tctx: typer.Context, as_json: Json = False, password_stdin: PasswordStdin = False) -> None:
        """Service state, daemon status, accounts and lockouts."""

        def action(ctx: Any) -> int:
            from risk_manager.admin.status import gather, notices, status_line

            st = gather(ctx)
            if as_json:
                _echo_json(st.to_dict())
            else:
                ctx.ui.info(status_line(ctx, st))
                for kind, text in notices(ctx, st):
                    (ctx.ui.error if kind == "error" else ctx.ui.warn)(text)
                for account in st.accounts:
                    ctx.ui.info(
                        f"{account.get('accountId')}  {account.get('nickname')}  {account.get('mode')}  "
                        f"{account.get('protection')}  lockouts {len(account.get('lockouts') or [])}"
                    )
            return exits.OK if st.daemon is not None else exits.DAEMON_UNREACHABLE

        run_scripted(tctx, action, password_stdin=password_stdin)

    _service(app)
    _diagnostics(app)
    _lockouts(app)


def _service(app: typer.Typer) -> None:
    service = typer.Typer(
        name="service", help="Control the Windows service / systemd unit.", no_args_is_help=True
    )
    app.add_typer(service)

    @service.command("status")
    def status(tctx: typer.Context, as_json: Json = False, password_stdin: PasswordStdin = False) -> None:
        """Service state and the daemon's answer."""

        def action(ctx: Any) -> int:
            from risk_manager.admin.screens.service import overview
            from risk_manager.admin.status import gather

            st = gather(ctx)
            if as_json:
                _echo_json(st.to_dict())
            else:
                for label, text in overview(ctx, st):
                    ctx.ui.info(f"{label:<12} {text}")
            if not st.service_available or not st.service.get("installed"):
                return exits.OK if st.console_mode else exits.NOT_INSTALLED
            return exits.OK

        run_scripted(tctx, action, password_stdin=password_stdin)

    @service.command("start")
    def start(tctx: typer.Context, password_stdin: PasswordStdin = False) -> None:
        """Start the service and wait until the daemon answers."""
        from risk_manager.admin.service_actions import start_service

        def action(ctx: Any) -> None:
            start_service(ctx)

        run_scripted(tctx, action, password_stdin=password_stdin)

    @service.command("stop")
    def stop(tctx: typer.Context, yes: Yes = False, password_stdin: PasswordStdin = False) -> None:
        """Stop the service (removes all protection; needs --yes)."""
        from risk_manager.admin.service_actions import stop_service

        def action(ctx: Any) -> None:
            if not yes:
                raise AdminExit(exits.USAGE, "Stopping removes all protection: add --yes to confirm.")
            stop_service(ctx, confirmed=True)

        run_scripted(tctx, action, password_stdin=password_stdin)

    @service.command("restart")
    def restart(tctx: typer.Context, password_stdin: PasswordStdin = False) -> None:
        """Stop and start the service."""
        from risk_manager.admin.service_actions import restart_service

        run_scripted(tctx, lambda ctx: restart_service(ctx, confirmed=True), password_stdin=password_stdin)

    @service.command("install")
    def install(
        tctx: typer.Context,
        no_start: Annotated[
            bool, typer.Option("--no-start", help="Do not start it after installing.")
        ] = False,
        password_stdin: PasswordStdin = False,
    ) -> None:
        """Install the service (auto-start) after the pre-install checks."""
        from risk_manager.admin.service_actions import install_service

        run_scripted(
            tctx, lambda ctx: install_service(ctx, start=not no_start), password_stdin=password_stdin
        )

    @service.command("uninstall")
    def uninstall(tctx: typer.Context, yes: Yes = False, password_stdin: PasswordStdin = False) -> None:
        """Remove the service (config, data and logs are kept; needs --yes)."""
        from risk_manager.admin.service_actions import uninstall_service

        def action(ctx: Any) -> None:
            if not yes:
                raise AdminExit(exits.USAGE, "Uninstalling removes all protection: add --yes to confirm.")
            uninstall_service(ctx, confirmed=True)

        run_scripted(tctx, action, password_stdin=password_stdin)


def _diagnostics(app: typer.Typer) -> None:
    @app.command("test")
    def test(
        tctx: typer.Context,
        what: Annotated[
            str | None,
            typer.Argument(
                help="notify: send a test message through every alert channel of daemon.yaml instead.",
                show_default=False,
            ),
        ] = None,
        text: Annotated[
            str | None, typer.Option("--text", help="notify: the message body (default: a standard test text).")
        ] = None,
        only: Annotated[
            str | None,
            typer.Option("--only", help="Comma list of config,database,daemon,rest,user-hub,market-hub."),
        ] = None,
        login: Annotated[
            list[str] | None, typer.Option("--login", help="Test only this login (repeatable).")
        ] = None,
        as_json: Json = False,
        password_stdin: PasswordStdin = False,
    ) -> None:
        """Connection tests; `test notify`: a test message to every alert channel. Exit 8 if any failed."""
        from risk_manager.admin.conn_tests import TESTS, run_tests, summary

        chosen = {t.strip() for t in only.split(",") if t.strip()} if only else None
        unknown = sorted((chosen or set()) - set(TESTS))

        def action(ctx: Any) -> int:
            if what is not None:
                if what != "notify":
                    raise AdminExit(exits.USAGE, f"Unknown test {what!r}: the only named test is notify.")
                if only or login:
                    raise AdminExit(exits.USAGE, "--only and --login are for the connection tests, not notify.")
                from risk_manager.admin.notify_test import send_test

                return send_test(ctx, text=text, as_json=as_json)
            if text is not None:
                raise AdminExit(exits.USAGE, "--text is for `admin test notify`.")
            if unknown:
                raise AdminExit(
                    exits.USAGE, f"Unknown test {', '.join(unknown)}; choose from {', '.join(TESTS)}."
                )
            if as_json:
                results = run_tests(ctx, chosen, login or None)
                failed, warned, passed = summary(results)
                _echo_json(
                    {
                        "results": [r.to_dict() for r in results],
                        "failed": failed,
                        "warnings": warned,
                        "passed": passed,
                    }
                )
                ctx.audit(
                    "connection_test",
                    target=",".join(sorted(chosen or TESTS)),
                    after={"failed": failed, "warnings": warned, "passed": passed},
                )
                return exits.BROKER if failed else exits.OK
            from risk_manager.admin.screens.testing import run_and_show

            return run_and_show(ctx, chosen, login or None)

        run_scripted(tctx, action, password_stdin=password_stdin)

    @app.command("logs")
    def logs(
        tctx: typer.Context,
        level: Annotated[str, typer.Option("--level", help="Lowest level shown.")] = "INFO",
        account: Annotated[str | None, typer.Option("--account", help="Only this account.")] = None,
        rule: Annotated[str | None, typer.Option("--rule", help="Only this rule, e.g. RULE-003.")] = None,
        grep: Annotated[str | None, typer.Option("--grep", help="Only lines containing this text.")] = None,
        follow: Annotated[
            bool, typer.Option("--follow", help="Keep printing new lines (Ctrl+C stops).")
        ] = False,
        lines: Annotated[int, typer.Option("-n", help="How many of the newest lines.")] = 100,
        as_json: Json = False,
        password_stdin: PasswordStdin = False,
    ) -> None:
        """The daemon log, filtered."""
        from risk_manager.admin.logs import LEVELS, LogFilter

        def action(ctx: Any) -> None:
            from risk_manager.admin.screens.service import follow as follow_log
            from risk_manager.admin.screens.service import print_records, read_or_explain

            if level.upper() not in LEVELS:
                raise AdminExit(exits.USAGE, f"--level: choose from {', '.join(LEVELS)}.")
            flt = LogFilter(level=level.upper(), account=account or "", rule=rule or "", text=grep or "")
            records = read_or_explain(ctx, flt)[-lines:] if lines > 0 else []
            if as_json:
                _echo_json([r.to_dict() for r in records])
            else:
                print_records(ctx, records, with_rule=True)
            if follow:
                follow_log(ctx, flt, with_rule=True)

        run_scripted(tctx, action, password_stdin=password_stdin)

    @app.command("enforcement")
    def enforcement(
        tctx: typer.Context,
        account: Annotated[int | None, typer.Option("--account", help="Only this account.")] = None,
        rule: Annotated[str | None, typer.Option("--rule", help="Only this rule, e.g. RULE-003.")] = None,
        since: Annotated[str | None, typer.Option("--since", help="From this date (YYYY-MM-DD).")] = None,
        until: Annotated[str | None, typer.Option("--until", help="Up to this date (YYYY-MM-DD).")] = None,
        action_name: Annotated[str | None, typer.Option("--action", help="Only this action.")] = None,
        as_csv: Annotated[bool, typer.Option("--csv", help="CSV on stdout.")] = False,
        as_json: Json = False,
        password_stdin: PasswordStdin = False,
    ) -> None:
        """The enforcement log (database, plus admin unlocks from enforcement.jsonl)."""
        from risk_manager.admin.logs import EnforcementFilter, enforcement_rows

        def action(ctx: Any) -> None:
            flt = EnforcementFilter(
                account, rule, _date(since, "--since"), _date(until, "--until"), action_name
            )
            rows = enforcement_rows(ctx.data_dir, ctx.log_dir, flt)
            if as_json:
                _echo_json(rows)
            elif as_csv:
                import csv
                import sys

                writer = csv.DictWriter(
                    sys.stdout, fieldnames=["time", "account", "rule", "action", "result", "reason", "day"]
                )
                writer.writeheader()
                writer.writerows(rows)
            else:
                ctx.ui.table(
                    ["Time", "Account", "Rule", "Action", "Result", "Reason"],
                    [
                        [r["time"], r["account"], r["rule"], r["action"], r["result"], r["reason"]]
                        for r in rows
                    ],
                )

        run_scripted(tctx, action, password_stdin=password_stdin)


def _lockouts(app: typer.Typer) -> None:
    group = typer.Typer(name="lockouts", help="Active lockouts and today's history.", no_args_is_help=True)
    app.add_typer(group)

    @group.command("list")
    def list_(
        tctx: typer.Context,
        history: Annotated[bool, typer.Option("--history", help="Today's lockouts, set or cleared.")] = False,
        as_json: Json = False,
        password_stdin: PasswordStdin = False,
    ) -> None:
        """Active lockouts (from the daemon; from the database when it is not running)."""

        def action(ctx: Any) -> int:
            from risk_manager.admin import lockouts as lk
            from risk_manager.admin.screens.lockouts import COLUMNS, lockout_rows

            if history:
                items = lk.history(ctx)
                if as_json:
                    _echo_json(items)
                else:
                    ctx.ui.table(
                        ["Account", "Rule", "Set", "Cleared", "By", "Reason"],
                        [
                            [
                                i["accountId"],
                                i["ruleId"],
                                i["createdAt"],
                                i["clearedAt"] or "",
                                i["clearedBy"] or ("active" if i["active"] else ""),
                                i["clearReason"] or i["reason"] or "",
                            ]
                            for i in items
                        ],
                    )
                return exits.OK
            rows, live = lk.live_lockouts(ctx)
            if as_json:
                _echo_json(
                    {"source": "daemon" if live else "database", "lockouts": [r.to_dict() for r in rows]}
                )
            else:
                if not live:
                    ctx.ui.warn("Daemon not reachable — showing stored lockouts.")
                ctx.ui.table(COLUMNS, lockout_rows(rows)) if rows else ctx.ui.info("No active lockouts.")
            return exits.OK

        run_scripted(tctx, action, password_stdin=password_stdin)

    @app.command("unlock")
    def unlock(
        tctx: typer.Context,
        account: Annotated[int, typer.Argument(help="Account ID.")],
        reason: Annotated[str, typer.Option("--reason", help="Why (at least 10 characters; audited).")],
        rule: Annotated[
            str | None, typer.Option("--rule", help="Only this rule's lockout, e.g. RULE-003.")
        ] = None,
        password_stdin: PasswordStdin = False,
    ) -> None:
        """Manual unlock of one rule's lockout or all of the account's."""

        def action(ctx: Any) -> None:
            from risk_manager.admin import lockouts as lk
            from risk_manager.admin.rule_fields import find_rule

            rule_id = None
            if rule is not None:
                found = find_rule(rule)
                if found is None:
                    raise AdminExit(exits.NOT_FOUND, f"Unknown rule: {rule!r}.")
                rule_id = found.rule_id
            answer = lk.unlock(ctx, account, reason, rule=rule_id)
            if answer.get("conditionStillTrue"):
                ctx.ui.warn("The condition is still true; the rule will lock again at the next event.")
            ctx.ui.ok(
                f"Unlocked {len(answer.get('cleared') or [])} lockout(s) on {account}. Logged as manual "
                f'unlock by {ctx.os_user}: "{reason.strip()}".'
            )

        run_scripted(tctx, action, password_stdin=password_stdin)
