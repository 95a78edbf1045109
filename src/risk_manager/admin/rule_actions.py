"""Rule Configuration actions (admin-cli.md §8), shared by the menu and ``admin rules …``.

A value typed by a person or given on the command line is parsed by its field type (§8.1), applied
to the documents and validated with the daemon's models at once; the review shows the diff, warns
about every change that weakens protection (disabling rules 1, 3, 4 or 10, or raising a loss limit by
more than 50 %, also needs the typed ``WEAKEN``; scripts need ``--yes`` for any weakening), then saves
and applies through §7.1.
"""

from __future__ import annotations

from typing import Any

from risk_manager.admin import exits, values
from risk_manager.admin.apply import Applied, refuse, save_and_apply
from risk_manager.admin.config_files import SaveRefused
from risk_manager.admin.context import AdminContext
from risk_manager.admin.exits import AdminExit
from risk_manager.admin.rule_edit import RuleEditor, Scope
from risk_manager.admin.rule_fields import Field, RuleDef, find_rule

OFF_WORDS = ("off", "none", "null")


def rule_or_exit(ref: str) -> RuleDef:
    rule = find_rule(ref)
    if rule is None:
        raise AdminExit(
            exits.NOT_FOUND,
            f"Unknown rule: {ref!r}. Use 1-15, RULE-003, a name such as daily_realized_loss, or global.",
        )
    return rule


def field_or_exit(rule: RuleDef, key: str) -> Field:
    field = rule.field(key.strip())
    if field is None:
        keys = ", ".join(f.key for f in rule.fields)
        raise AdminExit(
            exits.NOT_FOUND, f"Unknown key {key!r} for rule {rule.number} ({rule.key}); keys: {keys}."
        )
    return field


def editor_or_exit(ctx: AdminContext, scope: Scope) -> RuleEditor:
    try:
        return RuleEditor(ctx.files, scope)
    except SaveRefused as exc:
        ctx.ui.error("The configuration on disk is invalid; fix or restore it first.")
        raise refuse(ctx, exc.issues) from None
    except KeyError:
        raise AdminExit(exits.NOT_FOUND, f"Unknown account: {scope.account_id}.") from None


def parse_value(
    field: Field, text: str, current: Any, lines: list[str] | None = None
) -> tuple[Any, list[str]]:
    """``(value, warnings)``; value ``OFF`` for a RULE-006 window switched off. InputError when bad."""
    kind = field.kind
    if field.nullable and text.strip().lower() in OFF_WORDS:
        return OFF, []
    if field.optional and text.strip().lower() in OFF_WORDS:
        return None, []  # the key itself becomes null (no rung, the firm's number not given)
    if kind == "bool":
        return values.parse_bool(text), []
    if kind == "int":
        return values.parse_int(text, minimum=field.minimum, maximum=field.maximum), []
    if kind == "percents":
        return _flow(values.parse_percents(text, maximum=field.maximum or 99)), []
    if kind == "money":
        return values.parse_money(text), []
    if kind == "duration":
        return values.parse_duration(text), []
    if kind == "choice":
        return values.parse_choice(text, field.choices), []
    if kind == "time":
        return values.parse_time(text), []
    if kind == "timezone":
        return values.parse_timezone(text), []
    if kind == "days":
        return _flow(values.parse_days(text)), []
    if kind == "symbols":
        symbols, warnings = values.parse_symbol_list(text)
        return _flow(symbols), warnings
    if kind == "symbol_map":
        mapping, warnings = values.parse_symbol_map(text, dict(current or {}))
        return _flow_map(mapping), warnings
    if kind == "symbol_action":
        return values.parse_symbol_action(text), []
    if kind == "tiers":
        return values.parse_tiers(lines if lines is not None else _split_lines(text)), []
    if kind == "windows":
        mapping, warnings = values.parse_windows(
            lines if lines is not None else _split_lines(text), dict(current or {})
        )
        return _flow_map(mapping), warnings
    raise values.InputError(f"cannot edit a value of type {kind}")


class _Off:
    def __repr__(self) -> str:
        return "off"


OFF = _Off()


def _split_lines(text: str) -> list[str]:
    return [part.strip() for part in text.replace(";", "\n").splitlines() if part.strip()]


def _flow(items: list[Any]) -> Any:
    from ruamel.yaml.comments import CommentedSeq

    seq = CommentedSeq(items)
    seq.fa.set_flow_style()
    return seq


def _flow_map(mapping: dict[str, Any]) -> Any:
    from ruamel.yaml.comments import CommentedMap

    out = CommentedMap(mapping)
    out.fa.set_flow_style()
    return out


def apply_value(editor: RuleEditor, rule: RuleDef, field: Field, value: Any) -> None:
    """SaveRefused (with the daemon's message) when the configuration would become invalid."""
    if value is OFF:
        editor.set_off(rule, field)
    else:
        editor.set(rule, field, value)


def show_diff(ctx: AdminContext, editor: RuleEditor, rule: RuleDef) -> int:
    changes = editor.diff(rule)
    if not changes:
        return 0
    ui = ctx.ui
    ui.info(f"Changes to {editor.scope.file} ({editor.scope.label} {ui.sym.arrow} {rule.key})")
    for change in changes:
        if change.before is not None:
            ui.text(f"   - {change.key}: {change.before}", "red")
        if change.after is not None:
            ui.text(f"   + {change.key}: {change.after}", "green")
    return len(changes)


def save_rule(
    ctx: AdminContext, editor: RuleEditor, rule: RuleDef, *, reason: str | None, yes: bool, interactive: bool
) -> Applied | None:
    """Review (diff, weakening), confirm, save and apply. None when nothing changed or cancelled."""
    ui = ctx.ui
    count = show_diff(ctx, editor, rule)
    if count == 0:
        ui.info("Nothing to save.")
        return None
    weaker = editor.weakenings(rule)
    for w in weaker:
        ui.warn(f"Weaker protection: {w.text}.")
    if interactive:
        reason = ui.ask("Reason for this change (optional, kept in the audit log): ") or None
        if not ui.confirm(f"Save {count} change{'s' if count != 1 else ''}?"):
            ui.info("Not saved.")
            return None
        if any(w.strong for w in weaker) and not ui.typed_confirm(
            "This weakens protection. Type WEAKEN to confirm: ", "WEAKEN"
        ):
            return None
    elif weaker and not yes:
        ctx.audit(
            "rule_changed",
            target=f"{editor.scope.file} › {editor.scope.label} › {rule.key}",
            reason=reason,
            outcome="refused: weakening without --yes",
        )
        raise AdminExit(
            exits.RUNTIME, "This change weakens protection; nothing was saved. Add --yes to confirm it."
        )
    before, after = editor.audit_values(rule)
    return save_and_apply(
        ctx,
        editor.changed_texts(),
        interactive=interactive,
        action="rule_changed",
        target=f"{editor.scope.file} › {editor.scope.label} › {rule.key}",
        before=before,
        after=after,
        reason=reason,
        summary=f"{editor.scope.label}: {rule.key} " + ", ".join(f"{k}={v}" for k, v in after.items()),
    )
