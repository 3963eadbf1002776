"""The `ledger` command line: demo, policies, per-person reads (and, with the API, serve and tokens)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path


from domain.errors import InvalidInput, LedgerError
from domain.regions import name_of


def _ledger():
    from domain.ledger import Ledger

    return Ledger()


# -- policy -----------------------------------------------------------------------------------


def cmd_policy_list(args: argparse.Namespace) -> int:
    from domain.policy import all_policies, loaded_versions

    _ledger()  # puts the policies loaded into the ledger in force
    latest = {v.policy.id: v for v in loaded_versions()}
    print(f"{'id':<16} {'year':<5} {'version':<8} {'tiers':<16} source")
    for p in all_policies():
        tiers = " / ".join(t.resident or "unspecified" for t in p.tier)
        v = latest.get(p.id)
        source = (f"loaded {v.recorded_at:%Y-%m-%d %H:%M} by {v.actor} from {v.file_name}: {v.notice_number}"
                  f" of {v.notice_date}") if v else f"shipped file (seed {p.seed})"
        print(f"{p.id:<16} {p.year:<5} {v.version if v else 0:<8} {tiers:<16} {source}")
        print(f"{'':<16} {p.region_name} — {p.notice}")
    return 0


def cmd_policy_load(args: argparse.Namespace) -> int:
    from domain.ledger import Actor
    from domain.policy_load import load_policy

    path = Path(args.file)
    v = load_policy(_ledger(), Actor(os.environ.get("USER", "cli"), "admin"), path.read_bytes(), file_name=path.name,
                    notice_number=args.notice_number, notice_date=date.fromisoformat(args.notice_date))
    print(f"policy {v.policy.id} version {v.version} loaded ({v.notice_number} of {v.notice_date}), recorded at"
          f" {v.recorded_at.isoformat()}")
    return 0


def cmd_policy_show(args: argparse.Namespace) -> int:
    from domain.policy import POLICY_DIR, loaded_versions, policy_by_id

    _ledger()  # puts the policies loaded into the ledger in force
    policy = policy_by_id(args.id)
    loaded = [v for v in loaded_versions() if v.policy.id == policy.id]
    if loaded:
        v = loaded[-1]
        print(f"# version {v.version}: {v.notice_number} of {v.notice_date}, loaded by {v.actor} at"
              f" {v.recorded_at.isoformat()}")
        print(v.document)
    else:
        print((POLICY_DIR / f"{policy.id}.toml").read_text(encoding="utf-8"))
    return 0


def cmd_policy_check(args: argparse.Namespace) -> int:
    from domain.policy import check_policies

    paths = [Path(p) for p in args.files] or None
    report = check_policies(paths)
    bad = 0
    for name, problems in report.items():
        if problems:
            bad += 1
            print(f"{name}: {len(problems)} problem(s)")
            for problem in problems:
                print(f"  - {problem}")
        else:
            print(f"{name}: ok")
    print(f"{len(report)} policy file(s), {bad} with problems")
    return 1 if bad else 0


# -- per-person reads -------------------------------------------------------------------------


def _moment(text: str | None) -> datetime | None:
    if text is None:
        return None
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise LedgerError("must carry an offset, like 2021-03-01T00:00:00+08:00", "--known-at", "datetime_offset")
    return moment


def cmd_coverage(args: argparse.Namespace) -> int:
    ledger = _ledger()
    on = date.fromisoformat(args.on) if args.on else None
    as_of = date.fromisoformat(args.as_of) if args.as_of else None
    view = ledger.coverage(args.id_number, args.year, on=on, as_of=as_of, known_at=_moment(args.known_at))
    print(json.dumps(view.answer(on), ensure_ascii=False, indent=2))
    return 0


# -- person: corrections and departures (bureau) -------------------------------------------------


def _bureau():
    from domain.ledger import Actor

    return Actor(os.environ.get("USER", "cli"), "bureau")


def _day(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"must be a date like 2021-03-20, got {text!r}", option, "date") from None


def cmd_person_correct(args: argparse.Namespace) -> int:
    from domain.idnumber import mask

    person = _ledger().correct_registration(
        _bureau(), id_number=args.id_number, reason=args.reason, name=args.name, region=args.region,
        hukou_registered_on=_day(args.hukou_registered_on, "--hukou-registered-on"),
        mother_id_number=args.mother, father_id_number=args.father,
        birth_date=_day(args.birth_date, "--birth-date"), document_type=args.document_type)
    print(f"corrected {mask(person.id_number)}: {person.name}, {person.region}, born {person.birth_date},"
          f" 落户 {person.hukou_registered_on or '-'} ({args.reason})")
    return 0


def cmd_person_retract(args: argparse.Namespace) -> int:
    from domain.idnumber import mask

    person = _ledger().retract_identity(_bureau(), id_number=args.id_number, category=args.category, reason=args.reason)
    held = " ".join(s.category for s in person.categories if s.ended_on is None) or "none"
    print(f"retracted {args.category} of {mask(person.id_number)}; categories held now: {held}")
    return 0


def cmd_person_depart(args: argparse.Namespace) -> int:
    from domain.idnumber import mask

    ledger = _ledger()
    left_on = _day(args.on, "--on")
    assert left_on is not None
    person, years, created = ledger.record_departure(_bureau(), id_number=args.id_number, reason=args.reason,
                                                     left_on=left_on, source=args.source)
    ended = ", ".join(f"{y} (refund {ledger.coverage_of(person, y).to_api()['refund']})" for y in years) or "none"
    print(f"{mask(person.id_number)} left the roll ({args.reason}) on {left_on}"
          f"{'' if created else ', as already recorded'}; enrollments ended: {ended}")
    return 0


def cmd_person_move_payment(args: argparse.Namespace) -> int:
    from domain.idnumber import mask

    target, payment_id, year, _ = _ledger().move_payment(
        _bureau(), id_number=args.id_number, payment_id=args.payment_id, reason=args.reason,
        to_id_number=args.to_id_number, to_year=args.to_year)
    print(f"payment {args.payment_id} moved to {mask(target.id_number)} for {year} as payment {payment_id}")
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    from api.services.persons import history_row

    ledger = _ledger()
    _, events = ledger.events_of(args.id_number)
    for e in events:
        row = history_row(e)
        print(
            f"{row['position']:>3} {row['type']:<22} recorded {row['recorded_at'][:19]} by {row['actor']} ({row['role']})"
            f" at {row['collection_point'] or '-'}: {json.dumps(row['data'], ensure_ascii=False)}"
        )
    return 0


# -- demo -------------------------------------------------------------------------------------


def _demo_counties(value: str) -> int:
    from api.services.demo import counties

    most = len(counties())
    if not value.isdigit() or not 1 <= int(value) <= most:
        raise argparse.ArgumentTypeError(f"must be a whole number of counties from 1 to {most}, not {value!r}")
    return int(value)


def _demo_county(value: str) -> str:
    from api.services.demo import counties

    if value not in counties():
        raise argparse.ArgumentTypeError(f"{value!r} is not one of the demo's counties: {', '.join(counties())}")
    return value


def cmd_demo(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from api.services.demo import QIANJIANG, YEAR, counties, load_demo_policy, plan, record_all
    from projections.service import Reports

    ledger = _ledger()
    if args.multi_year:
        return _multi_year_demo(ledger, args)
    chosen = [args.county] if args.county else counties()[:args.counties]
    if chosen != [QIANJIANG]:
        load_demo_policy(ledger)
    planned = {county: list(plan(args.scale, args.seed, county)) for county in chosen}
    persons = sum(len(p) for p in planned.values())
    names = ", ".join(name_of(county) for county in chosen)
    print(f"{names} 2021 demo: {persons:,} persons (scale 1/{args.scale}), seed {args.seed}")
    started = time.perf_counter()
    with tqdm(total=persons, unit="person", disable=args.quiet) as bar:
        for county in chosen:
            record_all(ledger, planned[county], args.batch, bar)
    elapsed = time.perf_counter() - started
    print(f"recorded in {elapsed:.1f} s")

    # The same report the bureau reads, as of the end of the coverage year.
    reports = Reports(ledger.store, ledger.env)
    if chosen == [QIANJIANG]:
        _print_townships(reports.report("enrollment", QIANJIANG, YEAR, date(YEAR, 12, 31)), args.scale)
    else:
        _print_counties(reports, chosen, YEAR)
    if args.serve:
        region = chosen[0] if len(chosen) == 1 else "50"
        return _serve_demo(ledger, args, region, "QJ-bureau" if region == QIANJIANG else f"{region}-bureau")
    return 0


def _print_townships(report: dict, scale: int) -> None:
    print()
    print(f"{'code':<10} {'township':<8} {'population':>10} {'target':>7} {'target/' + str(scale):>10} "
          f"{'enrolled':>8} {'paid':>6} {'paid/target':>11}")
    for row in [*report["rows"], report["total"]]:
        scaled = round(row["target"] / scale)
        label = "total" if row is report["total"] else f"{row['region']:<10} {row['name']}"
        width = 19 - (len(label) + len(row["name"]) if row is not report["total"] else len(label))
        print(f"{label}{' ' * max(1, width)}{row['population']:>10,} {row['target']:>7,} {scaled:>10,} "
              f"{row['enrolled']:>8,} {row['paid']:>6,} {row['paid'] / scaled:>10.1%}")


def _print_counties(reports, chosen: list[str], year: int) -> None:
    """Each county's totals as its own enrollment report gives them, as of the end of the year."""
    columns = ("enrolled", "paid", "covered", "assisted", "assisted_enrolled")
    print()
    print(f"{'code':<8} {'county':<10}" + "".join(f" {c:>17}" for c in columns))
    sums = dict.fromkeys(columns, 0)
    for county in chosen:
        total = reports.report("enrollment", county, year, date(year, 12, 31))["total"]
        name = name_of(county)
        print(f"{county:<8} {name}{' ' * max(1, 10 - 2 * len(name))}" + "".join(f" {total[c]:>17,}" for c in columns))
        for c in columns:
            sums[c] += total[c]
    print(f"{'total':<19}" + "".join(f" {sums[c]:>17,}" for c in columns))


def _multi_year_demo(ledger, args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from api.services import demo_multiyear as demo
    from projections.service import Reports

    planned = demo.plan(args.scale, args.seed)
    print(f"Qingdao 市南区 2024–2026 demo: {len(planned):,} persons (scale 1/{args.scale}), seed {args.seed}")
    started = time.perf_counter()
    with tqdm(total=len(planned), unit="person", disable=args.quiet) as bar:
        demo.record_all(ledger, planned, args.batch, bar)
    print(f"recorded in {time.perf_counter() - started:.1f} s")
    reports = Reports(ledger.store, ledger.env)
    print()
    print(f"{'year':<6} {'enrolled':>8} {'paid':>6} {'covered 1 Jan':>13} {'covered 1 Jul':>13} {'undetermined':>12}")
    for year in demo.YEARS:
        jan = reports.report("enrollment", demo.COUNTY, year, date(year, 1, 1))["total"]
        jul = reports.report("enrollment", demo.COUNTY, year, date(year, 7, 1))["total"]
        print(f"{year:<6} {jul['enrolled']:>8,} {jul['paid']:>6,} {jan['covered']:>13,} {jul['covered']:>13,}"
              f" {jul['undetermined']:>12,}")
    if args.serve:
        return _serve_demo(ledger, args, demo.COUNTY, "QD-bureau")
    return 0


def _serve_demo(ledger, args: argparse.Namespace, region: str = "500114", point: str = "QJ-bureau") -> int:
    """The console on the demo's data: a bureau token for the demo's county, then the web process."""
    import uvicorn

    from api.app import create_app
    from api.auth import Tokens

    name, token = Tokens(ledger).create("bureau", [region], point, None)
    print()
    print(f"Console: http://{args.host}:{args.port}/console  (token {name}: bureau, {region})")
    print(f"Sign in with this token (only its hash is stored): {token}")
    uvicorn.run(create_app(ledger, follow=True), host=args.host, port=args.port, log_level="warning")
    return 0


# -- projections --------------------------------------------------------------------------------


def _reports():
    from projections.service import Reports

    ledger = _ledger()
    return Reports(ledger.store, ledger.env)


def cmd_rebuild(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    reports = _reports()
    follower = reports.follower
    follower.batch = args.batch
    head = follower.head()
    print(f"rebuilding the report projection from zero: {head:,} events in the ledger")
    started = time.perf_counter()
    with tqdm(total=head, unit="event", unit_scale=True, disable=args.quiet) as bar:
        applied = follower.rebuild(bar.update, args.workers)
    elapsed = time.perf_counter() - started
    status = follower.status(rows=True)
    rate = f"{applied / elapsed:,.0f} events/s" if elapsed > 0 else "-"
    print(f"rebuilt in {elapsed:.1f} s ({rate}); position {status.position:,}; "
          + ", ".join(f"{n:,} {table}" for table, n in (status.rows or {}).items()))
    return 0


def cmd_projections_status(args: argparse.Namespace) -> int:
    status = _reports().follower.status(rows=True)
    figures = {"projection": "reports", "position": status.position, "head": status.head, "lag": status.lag,
               "rows": status.rows}
    if args.json:
        print(json.dumps(figures))
    else:
        print(f"reports: position {status.position:,} of {status.head:,} (lag {status.lag:,} events); "
              + ", ".join(f"{n:,} {table}" for table, n in (status.rows or {}).items()))
    return 0


def cmd_projections_run(args: argparse.Namespace) -> int:
    """Follow the log in this process until interrupted (SIGINT or SIGTERM)."""
    import signal
    import threading

    from api.duties import PROJECTION, held_lock
    from projections.service import Reports

    ledger = _ledger()
    follower = Reports(ledger.store, ledger.env).follower
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())

    def waiting() -> None:
        print("another process (ledger serve, or another projections run) keeps the projection caught up;"
              " waiting to take over when it stops", flush=True)

    # One follower per database: `ledger serve` does not follow while this runs, nor this while it does.
    with held_lock(ledger.env, PROJECTION, stopping, waiting) as held:
        if not held:
            return 0
        print(f"following the ledger from position {follower.views.position():,}; Ctrl-C to stop", flush=True)
        while not stopping.is_set():
            applied = follower.catch_up(stop=stopping)
            if applied:
                status = follower.status()
                print(f"applied {applied:,} events; position {status.position:,}, lag {status.lag:,}", flush=True)
            stopping.wait(args.interval)
    return 0


# -- targets ------------------------------------------------------------------------------------


def cmd_targets_load(args: argparse.Namespace) -> int:
    from pathlib import Path

    from api.services.target_import import parse_table
    from projections import targets

    path = Path(args.file)
    if not path.is_file():
        raise InvalidInput(f"no file at {path}", "file", "file_exists")
    table = parse_table(path.read_bytes(), args.year, path.name, args.region, args.population_column, args.target_column)
    stored = targets.load(_ledger().store, table, args.actor)
    print(f"loaded {len(stored.rows)} regions below {stored.region} for {stored.year} (version {stored.originator_version}):"
          f" population {sum(r.population for r in stored.rows):,}, target {sum(r.target for r in stored.rows):,}")
    for warning in stored.warnings:
        print(f"warning: {warning}")
    return 0


# -- reports ----------------------------------------------------------------------------------


def _print_enrollment_table(report: dict, args: argparse.Namespace, on: date) -> None:
    print(f"enrollment {args.region} {args.year}, as of {on}" + (f", as known at {args.known_at}" if args.known_at else ""))
    print(f"{'region':<13} {'name':<10} {'population':>10} {'target':>7} {'enrolled':>8} {'paid':>7} {'unpaid':>7} "
          f"{'covered':>7} {'undeterm.':>9} {'assisted':>8} {'ass.paid':>8} {'of pop.':>7} {'of target':>9}")
    for row in [*report["rows"], report["total"]]:
        pct = lambda r: f"{float(r):.1%}" if r else "-"  # noqa: E731 - display only
        print(f"{row['region']:<13} {row['name']}{' ' * max(1, 11 - 2 * len(row['name']))}"
              f"{row['population'] or '-':>10} {row['target'] or '-':>7} {row['enrolled']:>8} {row['paid']:>7} "
              f"{row['enrolled_unpaid']:>7} {row['covered']:>7} {row['undetermined']:>9} {row['assisted']:>8} "
              f"{row['assisted_enrolled']:>8} {pct(row['rate_of_population']):>7} {pct(row['rate_of_target']):>9}")
    print("rates and assisted: enrolled and paid (参保缴费); undetermined: paid, no rule settles the start")
    for warning in report["warnings"]:
        print(f"warning: {warning}")


def _print_table(report: dict, columns: list[str], args: argparse.Namespace, on: date) -> None:
    rows = [*report["rows"], *([report["total"]] if "total" in report else [])]
    print(f"{args.report} {args.region} {args.year}, as of {on}" + (f", as known at {args.known_at}" if args.known_at else ""))
    print("\t".join(columns))
    for row in rows:
        print("\t".join(str(row[c]) for c in columns))


def cmd_report(args: argparse.Namespace) -> int:
    from domain.dates import china_date, now
    from projections.export import to_csv, to_xlsx
    from projections.reports import report_columns

    columns = report_columns(args.report, args.region)
    on = date.fromisoformat(args.as_of) if args.as_of else china_date(now())
    report = _reports().report(args.report, args.region, args.year, on, _moment(args.known_at))
    if args.format == "table":
        if args.report == "enrollment":
            _print_enrollment_table(report, args, on)
        else:
            _print_table(report, columns, args, on)
        return 0
    if args.format == "json":
        body = json.dumps(report, ensure_ascii=False, indent=2).encode()
    elif args.format == "csv":
        body = to_csv(report, columns)
    else:
        body = to_xlsx(report, columns, f"{args.report}-{args.region}-{args.year}")
    if args.output:
        Path(args.output).write_bytes(body)
        print(f"written {args.output}")
    elif args.format == "xlsx":
        raise LedgerError("an XLSX report needs --output FILE", "--output", "required")
    else:
        sys.stdout.buffer.write(body)
    return 0


# -- the tax bureau's daily file --------------------------------------------------------------


@contextmanager
def _row_report(path: str | None, columns: list[str]) -> Iterator[Callable[[dict], None]]:
    """An import's row report: each row's outcome written to the CSV file `path` (none: nowhere)."""
    import csv

    from projections.export import write_csv_row

    if path is None:
        yield lambda row: None
        return
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        yield lambda row: write_csv_row(writer, [row[c] for c in columns])


def cmd_import_collections(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from api.services.collection_import import REPORT_COLUMNS, Importer

    ledger = _ledger()
    importer = Importer(ledger)
    first = [True]
    if args.json:
        sys.stdout.write('{"rows": [')

    with _row_report(args.report, REPORT_COLUMNS) as report:
        def emit(result) -> None:
            row = result.public()
            report(row)
            if args.json:
                sys.stdout.write(("" if first[0] else ",") + "\n  " + json.dumps(row, ensure_ascii=False))
                first[0] = False

        with open(args.file, "rb") as stream, tqdm(unit="row", disable=not sys.stderr.isatty() or args.quiet) as bar:
            summary = importer.run_file(stream, emit, bar.update)
    counts, totals = summary.counts_dict(), summary.totals()
    if args.json:
        sys.stdout.write("\n], " + f'"counts": {json.dumps(counts)}, "totals": {json.dumps(totals, ensure_ascii=False)}' + "}\n")
    else:
        print(f"{args.file}: {sum(counts.values()):,} rows")
        for outcome, n in counts.items():
            if n:
                print(f"  {outcome:<20} {n:>9,}")
        for title, key in (("by channel", "by_channel"), ("by collection point", "by_collection_point")):
            print(f"posted {title}:")
            for t in totals[key]:
                print(f"  {t['key']:<20} {t['rows']:>9,} rows {t['amount']:>14}")
        if args.report:
            print(f"row report: {args.report}")
    return 0 if summary.ok else 1


def cmd_import_history(args: argparse.Namespace) -> int:
    """A bureau's first load: each file in turn, every row's outcome, what the files hold in the ledger."""
    from tqdm import tqdm

    from api.services.collection_import import REPORT_COLUMNS
    from api.services.history_import import LAYOUT, HistoryImporter, HistorySummary

    ledger = _ledger()
    importer = HistoryImporter(ledger)  # one run: a transaction twice in the files is a duplicate
    summary = HistorySummary()
    rows: list[dict] = []
    with _row_report(args.report, REPORT_COLUMNS) as report:
        def emit(result) -> None:
            row = result.public()
            report(row)
            if args.json:
                rows.append(row)

        for name in args.files:
            with open(name, "rb") as stream, tqdm(unit="row", desc=name, disable=args.quiet) as bar:
                summary.merge(importer.run_file(stream, emit, bar.update, LAYOUT))
    counts, totals = summary.counts_dict(), summary.totals()
    if args.json:
        print(json.dumps({"rows": rows, "counts": counts, "totals": totals}, ensure_ascii=False))
    else:
        print(f"{', '.join(args.files)}: {sum(counts.values()):,} rows")
        for outcome, n in counts.items():
            if n:
                print(f"  {outcome:<22} {n:>9,}")
        print("payments of these files in the ledger, by channel:")
        for t in totals["payments_in_ledger_by_channel"]:
            print(f"  {t['key']:<22} {t['rows']:>9,} {t['amount']:>16}")
        if args.report:
            print(f"row report: {args.report}")
    return 0 if summary.ok else 1


def cmd_import_prior_coverage(args: argparse.Namespace) -> int:
    from api.services.prior_coverage_import import OUTCOMES, REPORT_COLUMNS, SUCCESS, import_prior_coverage
    from domain.ledger import Actor

    ledger = _ledger()
    actor = Actor(os.environ.get("USER", "cli"), "bureau", "prior-coverage-file", tuple(args.regions or ()))
    with _row_report(args.report, REPORT_COLUMNS) as report:
        def emit(outcome) -> None:
            row = outcome.public()
            report(row)
            if args.json:
                print(json.dumps(row, ensure_ascii=False))

        with open(args.file, "rb") as stream:
            counts = import_prior_coverage(ledger, actor, stream, emit)
    if not args.json:
        print(f"{args.file}: {sum(counts.values()):,} rows")
        for outcome in OUTCOMES:
            if counts.get(outcome):
                print(f"  {outcome:<20} {counts[outcome]:>9,}")
        if args.report:
            print(f"row report: {args.report}")
    return 0 if all(o in SUCCESS for o in counts) else 1


# -- the verifiable log ---------------------------------------------------------------------------


def _log():
    from projections.tlog import VerifiableLog

    ledger = _ledger()
    return VerifiableLog.of(ledger.store, ledger.env)


def cmd_log_checkpoint(args: argparse.Namespace) -> int:
    from projections.witnesses import configured, cosigned_note, push

    witnesses = configured()
    log = _log()
    log.catch_up()
    checkpoint = log.checkpoint()
    for outcome in push(log, checkpoint, witnesses) if witnesses else []:
        print(f"witness {outcome.witness}: {outcome.message}", file=sys.stderr)
    print(cosigned_note(log, checkpoint), end="")
    return 0


def cmd_log_key(args: argparse.Namespace) -> int:
    print(_log().signer.verifier_key())
    return 0


def cmd_log_verify(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from projections.tlog import verify

    log = _log()
    log.catch_up()
    started = time.perf_counter()
    with tqdm(total=log.size(), unit="event", unit_scale=True, disable=args.quiet) as bar:
        verdict = verify(log, progress=lambda n: bar.update(n - bar.n))
    elapsed = time.perf_counter() - started
    if not verdict.ok:
        print(f"FAILED: {verdict.problem}")
        return 1
    print(f"verified: {verdict.checked:,} events, {verdict.checkpoints} kept checkpoints, in {elapsed:.1f} s"
          f" ({verdict.checked / max(elapsed, 1e-9):,.0f} events/s)")
    return 0


def cmd_log_audit(args: argparse.Namespace) -> int:
    from api.services.audit import audit

    key = Path(args.key).read_text().strip() if Path(args.key).is_file() else args.key
    token = args.token or os.environ.get("LEDGER_TOKEN", "")
    if not token:
        print("FAILED: give an auditor's token with --token or LEDGER_TOKEN")
        return 1
    witness_keys = [Path(k).read_text().strip() if Path(k).is_file() else k for k in args.witness_key or []]
    quorum = len(witness_keys) if args.quorum is None else args.quorum
    if not 0 <= quorum <= len(witness_keys):
        raise InvalidInput(f"must be between 0 and the number of --witness-key given ({len(witness_keys)}),"
                           f" got {quorum}", "--quorum", "quorum")
    result = audit(args.url, Path(args.checkpoint), key, token, witness_keys=witness_keys, quorum=quorum)
    print(("" if result.ok else "FAILED: ") + result.message)
    return 0 if result.ok else 1


def _cosigner(args: argparse.Namespace):
    from projections.cosign import Cosigner
    from projections.notes import ed25519_key_file

    try:
        key = ed25519_key_file(Path(args.key))
    except ValueError as e:
        raise InvalidInput(str(e), "--key", "witness_key") from None
    try:
        return Cosigner(args.name, key)
    except ValueError as e:
        raise InvalidInput(str(e), "--name", "witness_name") from None


def cmd_witness_key(args: argparse.Namespace) -> int:
    print(_cosigner(args).verifier_key())
    return 0


def cmd_witness_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from api.witness import Witness, WitnessState, create_witness_app
    from projections.notes import NoteError

    keys = [Path(k).read_text().strip() if Path(k).is_file() else k for k in args.log_key]
    state = WitnessState(Path(args.state))
    try:
        state.read()
    except (ValueError, KeyError, OSError) as e:
        raise InvalidInput(f"cannot be read as a witness's state ({e}); it was not written by this witness",
                           "--state", "witness_state") from None
    try:
        witness = Witness(_cosigner(args), state, keys)
    except NoteError as e:
        raise InvalidInput(str(e), "--log-key", "log_key") from None
    print(f"witness {witness.cosigner.verifier_key()}", flush=True)
    uvicorn.run(create_witness_app(witness), host=args.host, port=args.port, log_level="warning")
    return 0


# -- the access audit -----------------------------------------------------------------------------


def cmd_audit_reads(args: argparse.Namespace) -> int:
    from api.services.read_audit import COLUMNS, ReadAudit

    def moment(text: str | None, option: str) -> datetime | None:
        if not text:
            return None
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise InvalidInput(f"must be a date and time like 2021-03-01T10:00:00+08:00, got {text!r}", option,
                               "date_time") from None
        if parsed.tzinfo is None:
            raise InvalidInput("needs its offset, like +08:00", option, "date_time")
        return parsed

    rows = ReadAudit(_ledger().store).reads((), moment(args.since, "--since"), moment(args.until, "--until"),
                                            args.token, args.limit)
    if args.format == "json":
        print(json.dumps(rows, ensure_ascii=False, indent=1))
        return 0
    print("\t".join(COLUMNS))
    for r in rows:
        print("\t".join(r[c] for c in COLUMNS))
    return 0


# -- schema versions --------------------------------------------------------------------------------


def cmd_migrate(args: argparse.Namespace) -> int:
    from api.services.migrate import migrate
    from domain.store import storage_env

    start, end = migrate(storage_env())
    print(f"the database was at schema version {start} and is at {end}" if start != end
          else f"the database is at schema version {end} already: nothing to do")
    return 0


# -- backup and restore ---------------------------------------------------------------------------

PG_DUMP = ("pg_dump --format=custom --compress=6 --no-owner --no-privileges --serializable-deferrable"
           " --dbname \"$LEDGER_DATABASE_URL\" --file ledger.dump")


def _sqlite_only(what: str) -> Path:
    from domain.store import storage_env

    env = storage_env()
    if env["PERSISTENCE_MODULE"] == "eventsourcing.postgres":
        raise InvalidInput(f"is PostgreSQL: {what} it with the database's own tools, e.g. {PG_DUMP}"
                           " (restore: pg_restore --clean --if-exists --no-owner --dbname URL ledger.dump; see"
                           " README)", "LEDGER_DATABASE_URL", "backup_postgres")
    return Path(env["SQLITE_DBNAME"])


def cmd_backup(args: argparse.Namespace) -> int:
    from api.services.backup import backup

    source = _sqlite_only("back")
    started = time.perf_counter()
    events = backup(source, Path(args.out))
    print(f"backed up {events:,} events from {source} to {args.out} (and {args.out}.sha256) in"
          f" {time.perf_counter() - started:.1f} s")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from api.services.backup import restore
    from projections.tlog import log_settings

    target = _sqlite_only("restore")
    _, key_file = log_settings({"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(target)})
    done = restore(Path(args.file), target, key_file, args.replace)
    print(f"restored {done.events:,} events to {target}: the log verified ({done.verified:,} events in its tree,"
          f" {done.checkpoints} signed checkpoints)")
    if done.kept_as:
        print(f"the database it replaced is kept at {done.kept_as}")
    print("the report projection rebuilds from the restored log when the ledger next opens it")
    return 0


# -- serve and tokens -------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app

    from api.duties import on_postgres
    from api.logs import uvicorn_config

    ledger = _ledger()  # the store opened and its shape checked once, before any worker starts
    if args.workers < 1:
        raise InvalidInput(f"must be 1 or more, got {args.workers}", "--workers", "workers")
    if args.workers > 1 and not on_postgres(ledger.env):
        raise InvalidInput("must be 1 on SQLite: an SQLite file takes one writing process at a time, so more"
                           " processes would only wait for each other. Several processes need PostgreSQL"
                           " (LEDGER_DATABASE_URL)", "--workers", "workers_need_postgres")
    settings = dict(host=args.host, port=args.port, log_level=args.log_level, access_log=not args.no_access_log,
                    log_config=uvicorn_config(args.log_format), proxy_headers=True,
                    forwarded_allow_ips=os.environ.get("LEDGER_TRUSTED_PROXIES", "127.0.0.1"))
    if args.workers == 1:
        uvicorn.run(create_app(ledger, follow=True, keep_log=not args.without_log), **settings)
        return 0
    ledger.close()
    # Each worker opens its own ledger (api.app.served_app); they learn the options from here.
    os.environ["LEDGER_SERVE_KEEP_LOG"] = "0" if args.without_log else "1"
    uvicorn.run("api.app:served_app", factory=True, workers=args.workers, **settings)
    return 0


def cmd_token_create(args: argparse.Namespace) -> int:
    from api.auth import Tokens

    name, token = Tokens(_ledger()).create(args.role, args.region or [], args.point, args.name)
    scope = ", ".join(args.region) if args.region else "all regions"
    print(f"token {name}: role {args.role}, {scope}, collection point {args.point or '-'}")
    print("Keep it now: only its hash is stored, it cannot be shown again.")
    print(token)
    return 0


def cmd_token_list(args: argparse.Namespace) -> int:
    from api.auth import Tokens

    rows = Tokens(_ledger()).list()
    print(f"{'name':<24} {'role':<10} {'regions':<24} {'point':<14} {'created':<26} revoked")
    for r in rows:
        print(f"{r['name']:<24} {r['role']:<10} {','.join(r['regions']) or '*':<24} {r['point'] or '-':<14} "
              f"{r['created_at'][:19]:<26} {(r['revoked_at'] or '-')[:19]}")
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    from api.auth import Tokens

    Tokens(_ledger()).revoke(args.name)
    print(f"token {args.name} revoked")
    return 0


# -- entry point ------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ledger", description="Resident medical insurance enrollment ledger")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="record a synthetic 2021 season of Qianjiang (or of several Chongqing counties)"
                          " and print its counts")
    demo.add_argument("--scale", type=int, default=20, help="one person per SCALE of household population (default 20)")
    demo.add_argument("--seed", type=int, default=2021)
    demo.add_argument("--batch", type=int, default=300, help="persons per transaction (default 300, about 1000 commands)")
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    where = demo.add_mutually_exclusive_group()
    where.add_argument("--counties", type=_demo_counties, default=1, metavar="N",
                       help="N counties in one store: Qianjiang, then Chongqing's others in the division list's order"
                       " (1 to 37, default 1)")
    where.add_argument("--county", type=_demo_county, metavar="CODE",
                       help="one of those counties alone, by its 6-digit code (its figures are those it has among others)")
    where.add_argument("--multi-year", action="store_true",
                      help="Qingdao 市南区 2024–2026 under the 2025 continuity rules: gaps, late payments, repairs")
    demo.add_argument("--serve", action="store_true", help="then serve the API and the console on the demo's data,"
                      " with a bureau token for Qianjiang printed to sign in with")
    demo.add_argument("--host", default="127.0.0.1", help="with --serve (default 127.0.0.1)")
    demo.add_argument("--port", type=int, default=8000, help="with --serve (default 8000)")
    demo.set_defaults(func=cmd_demo)

    policy = sub.add_parser("policy", help="the policies: list, show ID, check").add_subparsers(dest="action", required=True)
    policy.add_parser("list", help="the policies in force, with their source and version").set_defaults(
        func=cmd_policy_list)
    load_p = policy.add_parser("load", help="record a policy file as the next version of its region and year")
    load_p.add_argument("file")
    load_p.add_argument("--notice-number", required=True, help="the notice's 文号")
    load_p.add_argument("--notice-date", required=True, help="the notice's date, YYYY-MM-DD")
    load_p.set_defaults(func=cmd_policy_load)
    show = policy.add_parser("show", help="one policy file, with its sources")
    show.add_argument("id")
    show.set_defaults(func=cmd_policy_show)
    check = policy.add_parser("check", help="validate every policy file (or the files given)")
    check.add_argument("files", nargs="*")
    check.set_defaults(func=cmd_policy_check)

    coverage = sub.add_parser("coverage", help="one person's enrollment for a year, on a date, as known at a time")
    coverage.add_argument("id_number")
    coverage.add_argument("--year", type=int, required=True)
    coverage.add_argument("--on", help="YYYY-MM-DD: is the person covered on this date (from everything known)")
    coverage.add_argument("--as-of", help="YYYY-MM-DD: as things stood on this date (later facts left out)")
    coverage.add_argument("--known-at", help="date-time with offset")
    coverage.set_defaults(func=cmd_coverage)

    report = sub.add_parser("report", help="reports as of a date, as known at a time").add_subparsers(dest="report", required=True)
    for kind, text in (("enrollment", "enrollment against targets, per child region"),
                       ("subsidies", "subsidies by funder and category"),
                       ("collections", "collections by day, channel and point (above a county: by child region and channel)"),
                       ("unenrolled-assisted", "assisted persons not enrolled, by village"),
                       ("payable", "应征缴明细 for the tax bureau: each enrollment with its payable")):
        one = report.add_parser(kind, help=text)
        one.add_argument("--region", required=True)
        one.add_argument("--year", type=int, required=True)
        one.add_argument("--as-of", help="date YYYY-MM-DD (default today)")
        one.add_argument("--known-at", help="date-time with offset (default now)")
        one.add_argument("--format", choices=["table", "json", "csv", "xlsx"], default="table")
        one.add_argument("--output", help="write to this file")
        one.set_defaults(func=cmd_report)

    imports = sub.add_parser("import", help="import files").add_subparsers(dest="what", required=True)
    collections = imports.add_parser("collections", help="the tax bureau's daily collection file (CSV, UTF-8 or GB18030)")
    collections.add_argument("file")
    collections.add_argument("--json", action="store_true", help='print {"rows": [...], "counts": {...}, "totals": {...}}')
    collections.add_argument("--report", help="write every row's outcome to this CSV file")
    collections.add_argument("--quiet", action="store_true", help="no progress bar")
    collections.set_defaults(func=cmd_import_collections)
    history = imports.add_parser("history", help="a first load of the old system's enrollments and payments (CSV or"
                                 " spreadsheet, UTF-8 or GB18030: 证件号码, 姓名, 村（社区）代码, 参保年度, 档次, ...)")
    history.add_argument("files", nargs="+", metavar="FILE")
    history.add_argument("--json", action="store_true", help='print {"rows": [...], "counts": {...}, "totals": {...}}')
    history.add_argument("--report", help="write every row's outcome to this CSV file")
    history.add_argument("--quiet", action="store_true", help="no progress bar")
    history.set_defaults(func=cmd_import_history)
    prior = imports.add_parser("prior-coverage", help="cover held before the ledger or elsewhere (全民参保 extract, CSV: "
                               "证件号码, 险种, 参保地, 开始日期, 结束日期, 来源, 凭证)")
    prior.add_argument("file")
    prior.add_argument("--json", action="store_true", help="print each row's outcome as a JSON line")
    prior.add_argument("--report", help="write every row's outcome to this CSV file")
    prior.add_argument("--regions", nargs="*", help="only persons of these region code prefixes (others: out_of_scope)")
    prior.set_defaults(func=cmd_import_prior_coverage)

    serve = sub.add_parser("serve", help="the HTTP API (uvicorn)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--log-level", default="info")
    serve.add_argument("--no-access-log", action="store_true")
    serve.add_argument("--log-format", choices=["text", "json"], default="text",
                       help="json: one JSON object per line (time, level, logger, message), for a log collector;"
                            " identity numbers are masked either way")
    serve.add_argument("--workers", type=int, default=1,
                       help="processes serving requests (PostgreSQL only; about one per core). One of them keeps"
                            " the report projection and the verifiable log caught up")
    serve.add_argument("--without-log", action="store_true",
                       help="do not keep the verifiable log's tree up to date while serving (it catches up when"
                            " proofs are asked for, or with `ledger log checkpoint`)")
    serve.set_defaults(func=cmd_serve)

    audit = sub.add_parser("audit", help="the access audit: who read what").add_subparsers(dest="what", required=True)
    reads = audit.add_parser("reads", help="reads of persons' data and reports, newest first")
    reads.add_argument("--since", help="from this moment, like 2021-03-01T00:00:00+08:00")
    reads.add_argument("--until")
    reads.add_argument("--token", help="one token's name")
    reads.add_argument("--limit", type=int, default=1000)
    reads.add_argument("--format", choices=["table", "json"], default="table")
    reads.set_defaults(func=cmd_audit_reads)
    sub.add_parser("migrate", help="bring the database's tables up to this release's schema version (back it up"
                                   " first)").set_defaults(func=cmd_migrate)
    backup = sub.add_parser("backup", help="a consistent copy of the SQLite ledger while it runs, with its checksum")
    backup.add_argument("out", help="the backup file to write (never overwritten)")
    backup.set_defaults(func=cmd_backup)
    restore = sub.add_parser("restore", help="check a backup (checksum, integrity, the verifiable log), then put"
                                             " it in the ledger's place")
    restore.add_argument("file")
    restore.add_argument("--replace", action="store_true",
                         help="replace an existing ledger (stop `ledger serve` first; the old one is kept beside it)")
    restore.set_defaults(func=cmd_restore)

    token = sub.add_parser("token", help="API tokens: create, list, revoke").add_subparsers(dest="action", required=True)
    create = token.add_parser("create", help="a new token, printed as the last line")
    create.add_argument("--role", required=True, choices=["collector", "bureau", "auditor", "admin"])
    create.add_argument("--region", action="append", help="limit to a region code prefix (repeatable)")
    create.add_argument("--point", help="the collection point (征收点) the token speaks for")
    create.add_argument("--name", help="a unique name (default: role and a random suffix)")
    create.set_defaults(func=cmd_token_create)
    token.add_parser("list", help="every token, revoked ones too").set_defaults(func=cmd_token_list)
    revoke = token.add_parser("revoke", help="revoke a token by name")
    revoke.add_argument("name")
    revoke.set_defaults(func=cmd_token_revoke)

    rebuild = sub.add_parser("rebuild", help="rebuild the report projection from zero")
    rebuild.add_argument("--quiet", action="store_true", help="no progress bar")
    rebuild.add_argument("--batch", type=int, default=20_000, help="events per transaction (default 20000)")
    rebuild.add_argument("--workers", type=int, help="processes folding persons (default: one per core)")
    rebuild.set_defaults(func=cmd_rebuild)

    projections = sub.add_parser("projections", help="the report projection: status, run").add_subparsers(
        dest="action", required=True)
    status = projections.add_parser("status", help="position in the log, lag, rows")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_projections_status)
    run = projections.add_parser("run", help="follow the log in this process (beside or instead of `serve`)")
    run.add_argument("--interval", type=float, default=1.0, help="seconds between polls when caught up")
    run.set_defaults(func=cmd_projections_run)

    log = sub.add_parser("log", help="the verifiable log: checkpoint, key, verify, audit").add_subparsers(
        dest="action", required=True)
    log.add_parser("checkpoint", help="catch the tree up with the log and print a signed checkpoint").set_defaults(
        func=cmd_log_checkpoint)
    log.add_parser("key", help="the verifier key (name+key id+key)").set_defaults(func=cmd_log_key)
    check = log.add_parser("verify", help="recompute every leaf and the tree; check every kept checkpoint")
    check.add_argument("--quiet", action="store_true", help="no progress bar")
    check.set_defaults(func=cmd_log_verify)
    outside = log.add_parser("audit", help="an outside auditor's check of a live server against a saved checkpoint")
    outside.add_argument("--url", required=True, help="the ledger's address, e.g. http://127.0.0.1:8000")
    outside.add_argument("--checkpoint", required=True, help="the saved checkpoint file (made on the first run)")
    outside.add_argument("--key", required=True, help="the verifier key, or a file holding it")
    outside.add_argument("--token", help="an auditor's token (default: LEDGER_TOKEN)")
    outside.add_argument("--witness-key", action="append",
                         help="a witness's verifier key, or a file holding it (repeat for each witness)")
    outside.add_argument("--quorum", type=int, help="how many of those witnesses must have cosigned the checkpoint"
                                                    " (default: all of them)")
    outside.set_defaults(func=cmd_log_audit)

    witness = sub.add_parser("witness", help="a witness of another ledger's log, run by another body"
                             ).add_subparsers(dest="action", required=True)
    wserve = witness.add_parser("serve", help="cosign the log's checkpoints that extend the last one cosigned"
                                              " (C2SP tlog-witness, POST /add-checkpoint)")
    wkey = witness.add_parser("key", help="the witness's verifier key, for the ledger's LEDGER_WITNESSES and the"
                                          " auditors' --witness-key (the key is made on first use)")
    for p in (wserve, wkey):
        p.add_argument("--name", required=True, help="the witness's name, e.g. audit.cq.gov.cn/ledger-witness")
        p.add_argument("--key", required=True, help="its Ed25519 key file (made, readable by its owner only,"
                                                    " on first use)")
    wserve.add_argument("--state", required=True, help="its state file: per log, the size and root last cosigned")
    wserve.add_argument("--log-key", action="append", required=True,
                        help="the verifier key of a log it witnesses (`ledger log key`), or a file holding it")
    wserve.add_argument("--host", default="127.0.0.1")
    wserve.add_argument("--port", type=int, default=7380)
    wserve.set_defaults(func=cmd_witness_serve)
    wkey.set_defaults(func=cmd_witness_key)

    targets = sub.add_parser("targets", help="target tables (任务分配表)").add_subparsers(dest="action", required=True)
    load = targets.add_parser("load", help="load a target table: CSV with region code, name, population, target")
    load.add_argument("file")
    load.add_argument("--year", type=int, required=True)
    load.add_argument("--region", help="the parent region (default: the parent of the rows' codes)")
    load.add_argument("--population-column", help="when the header does not make it plain")
    load.add_argument("--target-column", help="when the header does not make it plain (e.g. two years)")
    load.add_argument("--actor", default="cli", help="who is loading it, for the audit trail")
    load.set_defaults(func=cmd_targets_load)

    person = sub.add_parser("person", help="corrections and departures of one person, as the bureau records them"
                            ).add_subparsers(dest="action", required=True)
    correct = person.add_parser("correct", help="correct a registration: name, village, 落户 date, parents,"
                                                " a permit's birth date")
    correct.add_argument("id_number")
    correct.add_argument("--reason", required=True, help="why, for the auditor")
    correct.add_argument("--name")
    correct.add_argument("--region", help="12-digit village code")
    correct.add_argument("--hukou-registered-on", help="落户 date, YYYY-MM-DD")
    correct.add_argument("--mother", help="the mother's identity number")
    correct.add_argument("--father", help="the father's identity number")
    correct.add_argument("--birth-date", help="for a permit: the birth date it prints, YYYY-MM-DD")
    correct.add_argument("--document-type", default="resident_id",
                         help="the document the number is of: resident_id (default), hk_macao_pass, taiwan_pass or"
                              " foreign_permanent_residence")
    correct.set_defaults(func=cmd_person_correct)
    retract = person.add_parser("retract", help="retract an identity category recorded in error")
    retract.add_argument("id_number")
    retract.add_argument("category", help="code or Chinese name")
    retract.add_argument("--reason", required=True)
    retract.set_defaults(func=cmd_person_retract)
    depart = person.add_parser("depart", help="the person died, moved away or joined the employee scheme")
    depart.add_argument("id_number")
    depart.add_argument("reason", choices=["death", "moved", "employee_insurance"])
    depart.add_argument("--on", required=True, help="the day of death or of leaving, YYYY-MM-DD")
    depart.add_argument("--source", required=True, help="户籍注销 record, death certificate, transfer notice")
    depart.set_defaults(func=cmd_person_depart)
    move = person.add_parser("move-payment", help="a payment posted to the wrong person or year")
    move.add_argument("id_number")
    move.add_argument("payment_id")
    move.add_argument("--reason", required=True)
    move.add_argument("--to-id-number")
    move.add_argument("--to-year", type=int)
    move.set_defaults(func=cmd_person_move_payment)

    history = sub.add_parser("history", help="every event about a person, oldest first")
    history.add_argument("id_number")
    history.set_defaults(func=cmd_history)
    return parser


def main(argv: list[str] | None = None) -> int:
    from api import logs

    logs.install()
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except LedgerError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `ledger ... | head`: the reader has gone, nothing more to say
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        return 0


if __name__ == "__main__":
    sys.exit(main())
