"""The `approval-bot` command: serve the app and look after its database, reviewers and tokens."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from . import (
    __version__,
    accounts,
    audit,
    audit_checkpoint,
    directives,
    logs,
    message_templates,
    sending_gate,
    serve_lock,
    webhooks,
)
from . import profile as business
from .config import DEFAULT_DATABASE, Settings, SettingsError, load_settings
from .models import Role
from .phones import InvalidPhone, parse_e164
from .sms_text import NUL, nul_field
from .store import (
    DRIVER_ERRORS,
    DatabaseUnavailable,
    SchemaTooNew,
    UnknownDatabaseUrl,
    backend_of,
    opened,
)
from .store.copy import CopyRefused, copy_database
from .store.postgres import redact
from .store.views.guidance import directive_body


class CommandFailed(Exception):
    """The command could not do what was asked; the message says why (exit code 1)."""


def _phone(value: str) -> str:
    try:
        return parse_e164(value)
    except InvalidPhone as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _port(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number from 1 to 65535, not {value!r}")
    return int(value)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="approval-bot",
        description="Human-in-the-loop draft approval for SMS and WhatsApp over Twilio.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="serve the web app and run the background jobs")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=_port, default=8000, help="port to listen on")

    commands.add_parser(
        "init-db", help="create or migrate the database and make sure an admin reviewer exists"
    )

    database = commands.add_parser("db", help="move the database").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    copy = database.add_parser(
        "copy", help="copy a whole SQLite database into an empty PostgreSQL one"
    )
    copy.add_argument("--from", dest="source", required=True, help="sqlite:///path of the source")
    copy.add_argument("--to", dest="target", required=True, help="postgresql://… of the target")

    reviewer = commands.add_parser("reviewer", help="manage reviewers").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    add = reviewer.add_parser("add", help="add a reviewer (prints a generated password once)")
    add.add_argument("name")
    add.add_argument("--phone", type=_phone, required=True, help="their phone, E.164")
    add.add_argument("--admin", action="store_true", help="make them an admin")
    add.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    reviewer.add_parser("list", help="list reviewers")
    quiet = reviewer.add_parser(
        "quiet", help="hold draft texts during a reviewer's quiet hours (a digest follows)"
    )
    quiet.add_argument("name")
    quiet_when = quiet.add_mutually_exclusive_group(required=True)
    quiet_when.add_argument(
        "--hours", nargs=2, metavar=("FROM", "TO"), help="HH:MM HH:MM, e.g. 22:00 07:00"
    )
    quiet_when.add_argument("--off", action="store_true", help="no quiet hours")
    quiet.add_argument("--zone", default="UTC", help="IANA time zone, e.g. Europe/Paris")
    disable = reviewer.add_parser("disable", help="disable a reviewer")
    disable.add_argument("name")
    backup = reviewer.add_parser(
        "backup", help="text a reviewer, with the admins, about overdue replies (or stop)"
    )
    backup.add_argument("name")
    backup.add_argument("--off", action="store_true", help="no longer a backup")

    token = commands.add_parser("token", help="manage API tokens").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    create = token.add_parser("create", help="create a token (printed once)")
    create.add_argument("name")
    create.add_argument("--reviewer", required=True, help="the reviewer the token acts as")
    revoke = token.add_parser("revoke", help="revoke a token")
    revoke.add_argument("name")

    audit_cmd = commands.add_parser("audit", help="the audit log").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    audit_cmd.add_parser("verify", help="walk the hash chain; exit 1 at the first broken row")

    directive = commands.add_parser(
        "directive", help="instructions for the drafters, global or for one thread"
    ).add_subparsers(dest="action", required=True, metavar="ACTION")
    directive_set = directive.add_parser("set", help="replace a directive ('' clears it)")
    directive_set.add_argument("text", help="the directive; '-' reads it from standard input")
    directive_set.add_argument("--thread", help="a customer's number (default: global)")
    directive_show = directive.add_parser("show", help="print a directive")
    directive_show.add_argument("--thread", help="a customer's number (default: global)")

    faq = commands.add_parser("faq", help="FAQ entries the drafters answer from").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    faq_add = faq.add_parser("add", help="add an entry: keywords → answer")
    faq_add.add_argument("answer")
    faq_add.add_argument(
        "--keywords", required=True, help="comma-separated words that call for this answer"
    )
    faq_add.add_argument("--thread", help="only for this customer's number (default: global)")
    faq.add_parser("list", help="list the entries")
    faq_remove = faq.add_parser("remove", help="remove an entry")
    faq_remove.add_argument("id", type=int)

    sending = commands.add_parser(
        "sending", help="the sending gate: compliance status and emergency stop"
    ).add_subparsers(dest="action", required=True, metavar="ACTION")
    sending.add_parser("status", help="print the gate: status, stopped, reason, who and when")
    for name, what in (
        ("approve", "the messaging registration is approved: customer messages may leave"),
        ("pending", "the registration is pending: hold customer messages"),
        ("reject", "the registration was rejected: hold customer messages"),
    ):
        step = sending.add_parser(name, help=what)
        step.add_argument("--reason", help="why (kept with the change)")
    stop = sending.add_parser("stop", help="emergency stop: no customer message leaves")
    stop.add_argument("--reason", required=True, help="why sending is stopped")
    start = sending.add_parser("start", help="lift the emergency stop")
    start.add_argument("--reason", help="why (kept with the change)")
    profile = commands.add_parser(
        "profile", help="the business profile the drafters answer from"
    ).add_subparsers(dest="action", required=True, metavar="ACTION")
    profile_set = profile.add_parser("set", help="replace the profile from a JSON file")
    profile_set.add_argument("file", help="the profile as JSON (the API's shape); '-' for stdin")
    profile.add_parser("show", help="print the profile as JSON")
    webhook = commands.add_parser(
        "webhook", help="subscriptions that receive events, signed (Standard Webhooks)"
    ).add_subparsers(dest="action", required=True, metavar="ACTION")
    webhook_add = webhook.add_parser("add", help="subscribe a URL (prints its secret once)")
    webhook_add.add_argument("url")
    webhook_add.add_argument(
        "--events",
        required=True,
        help="comma-separated event types, or * for every type",
    )
    webhook.add_parser("list", help="list the subscriptions")
    webhook_disable = webhook.add_parser("disable", help="stop delivering to a subscription")
    webhook_disable.add_argument("id", type=int)
    webhook_rotate = webhook.add_parser(
        "rotate-secret", help="a new secret for a subscription (printed once)"
    )
    webhook_rotate.add_argument("id", type=int)
    template = commands.add_parser(
        "template", help="the texts the bot sends: greeting, help, fallback, missed call, …"
    ).add_subparsers(dest="action", required=True, metavar="ACTION")
    template.add_parser("list", help="list the templates")
    template_show = template.add_parser("show", help="print one template")
    template_show.add_argument("key")
    template_set = template.add_parser(
        "set", help="create or change a template (an edit clears its pre-approval)"
    )
    template_set.add_argument("key")
    template_set.add_argument("body", help="the text, with {placeholders}; '-' reads stdin")
    template_set.add_argument("--channel", choices=("sms", "whatsapp", "any"), default="any")
    template_set.add_argument("--content-sid", help="a WhatsApp Content template's HX… id")
    template_pre = template.add_parser(
        "pre-approve", help="approve a trigger's template in advance (help, holding)"
    )
    template_pre.add_argument("key")
    template_pre.add_argument("--by", required=True, help="the admin reviewer who decides")
    template_pre.add_argument("--withdraw", action="store_true", help="withdraw it instead")
    return parser


async def _init_db(settings: Settings, args: argparse.Namespace) -> int:
    async with opened(settings.database_target) as db:
        version = await db.schema_version()
        await sending_gate.ensure(db, sandbox=settings.sandbox)
        password = str(settings.admin_password) if settings.admin_password else None
        created, generated = await accounts.ensure_admin(db, settings.admin_name, password)
    print(f"database {settings.database_label} is at schema version {version}")
    if generated:
        print(f"created admin reviewer {settings.admin_name!r} with password: {generated}")
        print("(shown once: write it down, or set ADMIN_PASSWORD next time)")
    elif created:
        print(f"created admin reviewer {settings.admin_name!r} (password from ADMIN_PASSWORD)")
    else:
        print("an active admin reviewer exists")
    return 0


async def _reviewer_add(settings: Settings, args: argparse.Namespace) -> int:
    if args.password_stdin:
        password = args.stdin.rstrip("\r\n")
        if not password:
            raise CommandFailed("no password on standard input")
    else:
        password = accounts.generate_password()
    async with opened(settings.database_target) as db:
        reviewer = await accounts.add_reviewer(
            db,
            args.name,
            phone=args.phone,
            password=password,
            role=Role.ADMIN if args.admin else Role.REVIEWER,
        )
    print(f"added {reviewer.role} {reviewer.name!r} ({reviewer.phone})")
    if not args.password_stdin:
        print(f"password: {password}  (shown once)")
    return 0


async def _reviewer_list(settings: Settings, args: argparse.Namespace) -> int:
    async with opened(settings.database_target) as db:
        reviewers = await accounts.list_reviewers(db)
    if not reviewers:
        print("no reviewers yet: run `approval-bot reviewer add NAME --phone +E164`")
        return 0
    header = ("NAME", "ROLE", "PHONE", "SMS", "BACKUP", "ACTIVE")
    rows = [
        (
            r.name,
            r.role,
            r.phone or "-",
            "on" if r.notify_sms else "off",
            "yes" if r.backup else "no",
            "yes" if r.active else "disabled",
        )
        for r in reviewers
    ]
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        cells = (str(cell).ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip())
    return 0


async def _reviewer_quiet(settings: Settings, args: argparse.Namespace) -> int:
    hours = None if args.off else (args.hours[0], args.hours[1], args.zone)
    async with opened(settings.database_target) as db:
        reviewer = await accounts.set_quiet_hours(db, args.name, hours)
    if hours is None:
        print(f"{reviewer.name!r} has no quiet hours")
    else:
        print(f"{reviewer.name!r} is quiet from {hours[0]} to {hours[1]} ({hours[2]})")
    return 0


async def _reviewer_backup(settings: Settings, args: argparse.Namespace) -> int:
    async with opened(settings.database_target) as db:
        found = await accounts.find_reviewer(db, args.name)
        reviewer = await accounts.set_backup(db, found.id, not args.off, by=None)
    state = "a backup" if reviewer.backup else "not a backup"
    print(f"{reviewer.name!r} is {state} for overdue replies")
    return 0


async def _reviewer_disable(settings: Settings, args: argparse.Namespace) -> int:
    async with opened(settings.database_target) as db:
        reviewer = await accounts.disable_reviewer(db, args.name)
    print(f"disabled reviewer {reviewer.name!r}")
    return 0


async def _token_create(settings: Settings, args: argparse.Namespace) -> int:
    async with opened(settings.database_target) as db:
        token = await accounts.create_token(db, args.name, args.reviewer)
    print(f"token {args.name!r} for reviewer {args.reviewer!r} (shown once):")
    print(token)
    return 0


async def _token_revoke(settings: Settings, args: argparse.Namespace) -> int:
    async with opened(settings.database_target) as db:
        await accounts.revoke_token(db, args.name)
    print(f"revoked token {args.name!r}")
    return 0


async def _audit_verify(settings: Settings, args: argparse.Namespace) -> int:
    async with opened(settings.database_target) as db:
        async with db.snapshot() as conn:
            result = await audit.verify(conn)
        # the page's walk after a restart resumes from here (or re-walks from a break)
        await audit_checkpoint.record(db, result)
    print(result.describe(), file=sys.stdout if result.ok else sys.stderr)
    return 0 if result.ok else 1


async def _directive_set(settings: Settings, args: argparse.Namespace) -> int:
    text = args.stdin if args.text == "-" else args.text
    scope = args.thread or directives.GLOBAL
    async with opened(settings.database_target) as db:
        await directives.set_directive(db, scope, text, None)
    print(f"{'cleared' if not text.strip() else 'set'} the {scope} directive")
    return 0


async def _directive_show(settings: Settings, args: argparse.Namespace) -> int:
    scope = directives.check_scope(args.thread or directives.GLOBAL)
    async with opened(settings.database_target) as db:
        body = await directive_body(db, scope)
    print(body or f"(no {scope} directive)")
    return 0


async def _faq_add(settings: Settings, args: argparse.Namespace) -> int:
    keywords = directives.split_keywords(args.keywords)
    scope = args.thread or directives.GLOBAL
    async with opened(settings.database_target) as db:
        entry_id = await directives.add_faq(db, keywords, args.answer, None, scope)
    print(f"added FAQ entry {entry_id} ({scope}): {', '.join(keywords)}")
    return 0


async def _faq_list(settings: Settings, args: argparse.Namespace) -> int:
    async with opened(settings.database_target) as db:
        entries = await directives.list_faq(db)
    if not entries:
        print('no FAQ entries yet: run `approval-bot faq add --keywords "hours,open" ANSWER`')
    for entry_id, scope, keywords, answer in entries:
        print(f"{entry_id}  [{scope}]  {', '.join(keywords)} → {answer}")
    return 0


async def _faq_remove(settings: Settings, args: argparse.Namespace) -> int:
    async with opened(settings.database_target) as db:
        await directives.remove_faq(db, args.id, None)
    print(f"removed FAQ entry {args.id}")
    return 0


def _describe_gate(gate: sending_gate.Gate) -> str:
    lines = [
        f"status: {gate.status}",
        f"stopped: {'yes' if gate.stopped else 'no'}",
        f"reason: {gate.reason or '-'}",
        f"changed by: {gate.changed_by or '-'} at {gate.changed_at or '-'}",
    ]
    because = gate.closed_because
    verdict = f"customer messages are held: {because}" if because else "customer messages go out"
    return "\n".join([*lines, verdict])


async def _sending_status(settings: Settings, args: argparse.Namespace) -> int:
    async with opened(settings.database_target) as db:
        await sending_gate.ensure(db, sandbox=settings.sandbox)
        gate = await sending_gate.fetch(db)
    print(_describe_gate(gate))
    return 0


async def _sending_change(settings: Settings, args: argparse.Namespace) -> int:
    step = sending_gate.STEPS[args.action]
    reason = args.reason
    if reason is not None and not reason.strip():
        raise CommandFailed("--reason must not be blank")
    async with opened(settings.database_target) as db:
        await sending_gate.ensure(db, sandbox=settings.sandbox)
        try:
            result = await db.write(
                lambda conn: sending_gate.change(
                    conn,
                    actor_id=None,
                    via=sending_gate.ChangedVia.CLI,
                    stale_after=settings.gate_stale_after,
                    reason=reason,
                    **step,
                )
            )
        except sending_gate.InvalidGateChange as error:
            raise CommandFailed(str(error)) from None
    if not result.changed:
        print("nothing to change")
    print(_describe_gate(result.gate))
    if result.returned:
        print(
            f"{len(result.returned)} approved repl{'y' if len(result.returned) == 1 else 'ies'} "
            f"went back to review ({sending_gate.STALE_REASON})"
        )
    if result.released:
        print(f"{result.released} approved repl{'y' if result.released == 1 else 'ies'} now go out")
    return 0


async def _profile_set(settings: Settings, args: argparse.Namespace) -> int:
    try:
        text = args.stdin if args.file == "-" else Path(args.file).read_text("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise CommandFailed(f"cannot read {args.file}: {error}") from None
    _refuse_nul(args.file, text)
    try:
        data = json.loads(text)
    except ValueError as error:
        raise CommandFailed(f"{args.file} is not JSON: {error}") from None
    field = nul_field(data)
    if field is not None:
        raise CommandFailed(f"{args.file}: {field or 'the text'} cannot contain a NUL character")
    new = business.validate(data)
    async with opened(settings.database_target) as db:
        await business.put(db, new, None)
    print(f"set the business profile of {new.name}")
    return 0


async def _profile_show(settings: Settings, args: argparse.Namespace) -> int:
    async with opened(settings.database_target) as db:
        found = await business.get(db)
    if found is None:
        raise CommandFailed("there is no business profile yet: run `approval-bot profile set FILE`")
    print(json.dumps(business.document(found), indent=2, ensure_ascii=False))
    return 0


async def _webhook_add(settings: Settings, args: argparse.Namespace) -> int:
    wanted = [part.strip() for part in args.events.split(",") if part.strip()]
    async with opened(settings.database_target) as db:
        added, secret = await webhooks.add(
            db,
            args.url,
            wanted,
            by=None,
            check_address=settings.production and not settings.webhook_allow_private,
        )
    print(f"added webhook {added.id}: {added.url} ({', '.join(added.events)})")
    print(f"secret (shown once): {secret}")
    return 0


async def _webhook_list(settings: Settings, args: argparse.Namespace) -> int:
    async with opened(settings.database_target) as db:
        found = await webhooks.list_all(db)
    if not found:
        print("no webhooks yet: run `approval-bot webhook add URL --events '*'`")
    for item in found:
        state = "active" if item.active else "disabled"
        print(f"{item.id}  {state}  {item.url}  {', '.join(item.events)}")
    return 0


async def _webhook_disable(settings: Settings, args: argparse.Namespace) -> int:
    async with opened(settings.database_target) as db:
        await webhooks.disable(db, args.id, by=None)
    print(f"disabled webhook {args.id}")
    return 0


async def _webhook_rotate(settings: Settings, args: argparse.Namespace) -> int:
    async with opened(settings.database_target) as db:
        secret = await webhooks.rotate_secret(db, args.id, by=None)
    print(f"new secret for webhook {args.id} (shown once): {secret}")
    print("the old secret also signs each delivery for 24 hours: switch the receiver before then")
    return 0


def _print_template(template: message_templates.Template) -> None:
    approval = (
        f"pre-approved by {template.pre_approved_by_name} at {template.pre_approved_at}"
        if template.pre_approved
        else "not pre-approved"
    )
    sid = f", content {template.content_sid}" if template.content_sid else ""
    print(f"{template.key} [{template.channel}{sid}] ({approval})")
    print(f"  {template.body}")


async def _template_list(settings: Settings, args: argparse.Namespace) -> int:
    async with opened(settings.database_target) as db:
        for template in await message_templates.list_all(db):
            _print_template(template)
    return 0


async def _template_show(settings: Settings, args: argparse.Namespace) -> int:
    async with opened(settings.database_target) as db:
        template = await message_templates.fetch(db, args.key)
    if template is None:
        raise CommandFailed(f"no template {args.key!r}")
    _print_template(template)
    return 0


async def _template_set(settings: Settings, args: argparse.Namespace) -> int:
    body = args.stdin.rstrip("\n") if args.body == "-" else args.body
    change = message_templates.Change(body, args.channel, args.content_sid)
    async with opened(settings.database_target) as db:
        template = await message_templates.save(db, args.key, change, None, Role.REVIEWER)
    _print_template(template)
    return 0


async def _template_pre_approve(settings: Settings, args: argparse.Namespace) -> int:
    async with opened(settings.database_target) as db:
        admin = await accounts.find_reviewer(db, args.by)
        if not admin.active:
            raise CommandFailed(f"{admin.name!r} is disabled")
        template = await message_templates.pre_approve(
            db, args.key, not args.withdraw, admin.id, admin.role
        )
    _print_template(template)
    return 0


Handler = Callable[[Settings, argparse.Namespace], Coroutine[Any, Any, int]]


async def _db_copy(settings: Settings, args: argparse.Namespace) -> int:
    source_backend, source = backend_of(args.source)
    target_backend, target = backend_of(args.target)
    if source_backend != "sqlite" or target_backend != "postgresql":
        raise CommandFailed("db copy copies from sqlite:///… to postgresql://…")
    copied = await asyncio.to_thread(copy_database, Path(source), str(target))
    width = max(len(table) for table in copied.counts)
    for table, count in copied.counts.items():
        print(f"{table:<{width}}  {count}")
    print(f"copied {sum(copied.counts.values())} rows in {len(copied.counts)} tables")
    for column, values in copied.replaced.items():
        print(
            f"{column}: {values} value{'' if values == 1 else 's'} held a NUL character, which "
            "PostgreSQL cannot store; copied with U+FFFD in its place"
        )
    print(f"audit log verified on the target: {copied.audit_rows} rows, hash chain intact")
    return 0


HANDLERS: dict[tuple[str, str | None], Handler] = {
    ("init-db", None): _init_db,
    ("db", "copy"): _db_copy,
    ("reviewer", "add"): _reviewer_add,
    ("reviewer", "list"): _reviewer_list,
    ("reviewer", "disable"): _reviewer_disable,
    ("reviewer", "quiet"): _reviewer_quiet,
    ("reviewer", "backup"): _reviewer_backup,
    ("token", "create"): _token_create,
    ("token", "revoke"): _token_revoke,
    ("audit", "verify"): _audit_verify,
    ("directive", "set"): _directive_set,
    ("directive", "show"): _directive_show,
    ("faq", "add"): _faq_add,
    ("faq", "list"): _faq_list,
    ("faq", "remove"): _faq_remove,
    ("sending", "status"): _sending_status,
    **{("sending", action): _sending_change for action in sending_gate.STEPS},
    ("profile", "set"): _profile_set,
    ("profile", "show"): _profile_show,
    ("webhook", "add"): _webhook_add,
    ("webhook", "list"): _webhook_list,
    ("webhook", "disable"): _webhook_disable,
    ("webhook", "rotate-secret"): _webhook_rotate,
    ("template", "list"): _template_list,
    ("template", "show"): _template_show,
    ("template", "set"): _template_set,
    ("template", "pre-approve"): _template_pre_approve,
}


# the commands that take text from standard input when given '-': the argument that says so
_TAKES_STDIN: dict[tuple[str, str | None], str] = {
    ("directive", "set"): "text",
    ("profile", "set"): "file",
    ("template", "set"): "body",
}


def _standard_input(args: argparse.Namespace) -> str | None:
    """What the command reads from standard input, if anything: read before its event loop
    starts, where Ctrl-C ends the wait at once (under asyncio.run the read went on until the
    end of input)."""
    command = (args.command, getattr(args, "action", None))
    argument = _TAKES_STDIN.get(command)
    if command == ("reviewer", "add"):
        read = sys.stdin.readline if args.password_stdin else None
    else:
        read = sys.stdin.read if argument and getattr(args, argument) == "-" else None
    if read is None:
        return None
    try:
        text = read()
        text.encode("utf-8")  # under a C locale, bytes that are no UTF-8 arrive as surrogates
    except UnicodeError:
        raise CommandFailed("cannot read -: standard input is not UTF-8 text") from None
    _refuse_nul("-", text)
    return text


def _refuse_nul(source: str, text: str) -> None:
    """No text the bot keeps holds a NUL (PostgreSQL's text columns refuse one, and no SMS
    carries one): a UTF-16 file, as Windows editors save them, is UTF-8 full of NULs."""
    if NUL in text:
        raise CommandFailed(
            f"cannot read {source}: it holds a NUL character (\\x00); is it UTF-16? "
            "save it as UTF-8"
        )


async def _check_database(settings: Settings) -> None:
    async with opened(settings.database_target):
        pass


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from .app import create_app
    from .web.request_deadline import protocol_with_deadline

    # a second server on the same SQLite file would run a second sender over its replies
    held = None if settings.database_url else serve_lock.hold(settings.database)
    # a database the app cannot open or migrate (an unreachable server, a file that is not
    # SQLite, a newer schema) is one line here, not uvicorn's traceback of a failed startup
    asyncio.run(_check_database(settings))
    logs.configure(settings.log_format)
    mode = "sandbox (no Twilio credentials)" if settings.sandbox else "live Twilio"
    print(f"approval-bot on http://{args.host}:{args.port} in {mode} mode", flush=True)
    # the app logs each request itself (logs.RequestLog), in the format LOG_FORMAT asks for
    uvicorn.run(
        create_app(settings),
        host=args.host,
        port=args.port,
        lifespan="on",
        log_config=None,
        access_log=False,
        # uvicorn times out nothing while a request arrives: slow clients would hold sockets
        http=protocol_with_deadline(settings.request_receive_seconds),
        # uvicorn would otherwise believe X-Forwarded-For from loopback (or from its own
        # FORWARDED_ALLOW_IPS reading): only the proxies named in the setting are trusted
        proxy_headers=bool(settings.forwarded_allow_ips),
        forwarded_allow_ips=list(settings.forwarded_allow_ips),
    )
    if held is not None:
        held.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        if args.command == "serve":
            return _serve(settings, args)
        handler = HANDLERS[(args.command, getattr(args, "action", None))]
        args.stdin = _standard_input(args)
        code = asyncio.run(handler(settings, args))
        sys.stdout.flush()  # a reader that went away (`| head`) shows here, not at exit
        return code
    except (
        SettingsError,
        SchemaTooNew,
        DatabaseUnavailable,
        UnknownDatabaseUrl,
        CopyRefused,
        accounts.AccountError,
        directives.InvalidGuidance,
        business.InvalidProfile,
        webhooks.BadSubscription,
        webhooks.UnknownSubscription,
        message_templates.InvalidTemplate,
        message_templates.UnknownTemplate,
        message_templates.NotAdmin,
        CommandFailed,
        serve_lock.AlreadyServing,
    ) as error:
        print(f"approval-bot: error: {error}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # the output's reader closed it: nothing to say about the database, and nobody to
        # say it to; stdout goes to /dev/null so the interpreter's last flush stays quiet
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except DRIVER_ERRORS + (OSError,) as error:
        if args.command == "db" and getattr(args, "action", None) == "copy":
            database = f"{redact(args.source)} or {redact(args.target)}"
        else:
            database = redact(
                os.environ.get("DATABASE_URL")
                or os.environ.get("APPROVAL_BOT_DATABASE", DEFAULT_DATABASE)
            )
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        print(
            f"approval-bot: error: cannot use the database {database}: {reason}",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        return 130
