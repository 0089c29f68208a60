"""The run report: replay a run journal through the audit and give the run's verdict.

Everything comes from the journal, opened read-only: the config the run recorded (its
hash checked, the audit policy, the planned intervals and the configured meters rebuilt
from its text, never from an editable journal field), the hash chain over the interval
records, the meters' reading counts, the order books, the clearings, the trades and
every amount the chain settled. The orders are replayed from the metered energy and the
config's limit prices, the book is cleared again, each trade's value is recomputed and
compared with the amount settled, the chain's per-interval totals with the sum of the
amounts, and the energy balance is closed per interval and over the run (CUSUM).
"""

from __future__ import annotations

import math
import tomllib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from bench.config import ScenarioConfig, parse_scenario
from bench.config.model import METER_TIME_KINDS
from bench.config.overrides import apply_overrides
from bench.errors import BenchError, ConfigError
from bench.events import MeteredEnergy
from bench.report.cusum import CusumResult, page_cusum
from bench.store import CatchUpRow, Journal, RecordedInterval
from bench.store.digest import chain_digest, config_sha256, genesis
from pricing import (
    MECHANISMS,
    AreaPlan,
    AuditPolicy,
    AuditReport,
    Clearing,
    EnergyBalance,
    Finding,
    IntervalRecord,
    Order,
    SettledTrade,
    Side,
    Trade,
    audit,
    clear_areas,
)
from pricing.areas import tie_cap_wh, tie_export_wh
from pricing.units import labc, labc_per_kwh

RUN = 0
"""The interval id of findings about the whole run."""

CHECKS: dict[str, tuple[str, ...]] = {
    "config": ("config_not_recorded", "config_unreadable", "config_hash_mismatch", "policy_edited"),
    "digest_chain": ("digest_missing", "digest_mismatch", "seal_mismatch"),
    "completeness": ("missing_interval", "incomplete"),
    "meter_coverage": ("meter_never_reported", "no_reading"),
    "orders": ("order_not_metered", "order_price_edited", "grid_order_edited"),
    "settled_amounts": (
        "overcharge",
        "undercharge",
        "journal_trade_mismatch",
        "settlement_missing",
        "settled_total_mismatch",
    ),
    "clearing": (
        "clearing_mismatch",
        "price_breakdown_mismatch",
        "price_mismatch",
        "missing_settlement",
        "unexpected_settlement",
        "settlement_differs",
    ),
    "meter_backing": ("oversold", "overbought"),
    "energy_balance": ("energy_imbalance",),
    "theft_cusum": ("cumulative_theft",),
    "chain": (
        "chain_unreachable",
        "chain_mismatch",
        "chain_missing",
        "chain_extra",
        "journal_digest_mismatch",
    ),
}
"""Each check the verdict runs and the kinds of finding it raises (JUnit: one case each)."""

_CHECK_OF = {kind: check for check, kinds in CHECKS.items() for kind in kinds}


def check_of(finding: Finding) -> str:
    """The check a finding belongs to."""
    return _CHECK_OF.get(finding.kind, "clearing")


@dataclass(frozen=True)
class IntervalRow:
    """One line of the report."""

    interval_id: int
    cleared_wh: int
    price_wei_per_wh: int | None
    settled: int
    rejected: int
    value_settled_wei: int
    unexplained_wh: float | None
    interval: int = 0
    cleared_price_wei_per_wh: int | None = None
    volume_wh: int = 0
    offered_wh: int = 0
    """Offered by the microgrid's own participants (the grid excluded)."""
    bid_wh: int = 0
    """Bid for by the microgrid's own participants (the grid excluded)."""
    grid_import_wh: float | None = None
    """What the feeder meter imported from the city grid."""
    grid_export_wh: float | None = None
    """What the feeder meter exported to the city grid."""
    soc_wh: float | None = None
    """The shared battery's state of charge at the interval's end."""
    instantaneous_price_wei_per_wh: float | None = None
    price_components: dict[str, float] | None = None


@dataclass(frozen=True)
class RunReport:
    """The replayed audit of a journal, its per-interval rows and the verdict."""

    journal: Path
    rows: tuple[IntervalRow, ...]
    audit: AuditReport
    """Every finding of every check (the market audit's and the verdict's own)."""
    planned_intervals: int | None
    cusum: CusumResult | None
    chain_checked: str | None = None
    """The chain URL reconciled against, or None when the chain was not consulted."""
    meters: dict[str, dict[str, str]] = field(default_factory=dict)
    """Per meter id: {"attestation": "meter" | "bench", "signer": address}."""
    recovered: dict[int, tuple[str, str, int, int, int, bool]] = field(default_factory=dict)
    """Intervals a resume settled for a killed run (:meth:`Journal.recovered_settlements`):
    their settlement is recorded, their orders and clearing are not."""

    @property
    def complete(self) -> bool:
        """True when every planned interval was recorded."""
        return not any(f.kind in ("incomplete", "missing_interval") for f in self.audit.findings)

    @property
    def clean(self) -> bool:
        """The verdict: complete and nothing flagged."""
        return self.audit.clean


def message(finding: Finding) -> str:
    """A finding in one line."""
    where = "run" if finding.interval_id == RUN else f"interval {finding.interval_id}"
    return f"{where}: {finding.kind}: {finding.message}"


def replay(path: Path | str, chain_url: str | None = None) -> RunReport:
    """Audit a run again from its journal (read-only); reconcile with the chain at
    ``chain_url`` when given (see :mod:`bench.report.chain`)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"no run journal at {path}; pass the journal.sqlite of a run (runs/<time>/)"
        )
    journal = Journal(path, read_only=True)
    try:
        return _Replay(journal).run(path, chain_url)
    finally:
        journal.close()


class _Replay:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.findings: list[Finding] = []

    def flag(self, kind: str, text: str, interval_id: int = RUN, amount: float = 0.0) -> None:
        self.findings.append(Finding(interval_id, kind, text, amount=amount))

    def run(self, path: Path, chain_url: str | None) -> RunReport:
        j = self.journal
        config, config_hash = self._config()
        intervals = j.intervals()
        self._digests(intervals, config_hash)
        planned = None if config is None else config.intervals
        self._completeness(intervals, planned)
        amounts = j.amounts()
        if config is not None:
            self._coverage(intervals, config)
            self._orders(intervals, config)
        self._amounts(intervals, amounts)
        mechanism = config.market.mechanism if config is not None else "pay_as_clear"
        areas = None if config is None else config.area_plan
        records = [
            self._record(kept, amounts.get(kept.interval_id, []), mechanism, areas)
            for kept in intervals
        ]
        policy = config.audit_policy if config is not None else AuditPolicy()
        market = _audit(records, intervals, policy)
        balances, sizes, market = self._with_catch_ups(intervals, records, market, policy, config)
        cusum = self._cusum(balances, sizes, config)
        chain = None
        url = chain_url or str(j.meta("chain_url") or "")
        if url and intervals:
            from bench.report.chain import journal_heads, reconcile  # web3: only then

            found, reached = reconcile(
                url,
                str(j.meta("market_address") or ""),
                intervals,
                amounts,
                j.settlements(),
                {} if config is None else config.participant_meters,
                heads=journal_heads(j, intervals, config_hash),
                recovered=j.recovered_settlements(),
                resettled=j.resettled(),
            )
            if reached or chain_url:  # a recorded Anvil long gone is no finding
                self.findings += found
                chain = url if reached else None
        findings = tuple(self.findings) + market.findings
        ids = [kept.interval_id for kept in intervals]
        rows = tuple(
            _row(kept, r, b.unexplained_wh)
            for kept, r, b in zip(intervals, records, balances, strict=True)
        )
        report = replace(market, findings=findings)
        meters = self.journal.meta("meters")
        attested = dict(meters) if isinstance(meters, dict) else {}
        recovered = {i: r for i, r in j.recovered_settlements().items() if i not in set(ids)}
        return RunReport(path, rows, report, planned, cusum, chain, attested, recovered)

    # -- the config the run recorded ---------------------------------------------------
    def _config(self) -> tuple[ScenarioConfig | None, str]:
        j = self.journal
        text, overrides = j.meta("config_text"), j.meta("config_overrides")
        recorded_hash = str(j.meta("config_sha256") or "")
        if not isinstance(text, str) or not text or not isinstance(overrides, list):
            self.flag(
                "config_not_recorded",
                "the journal holds no config text: the audit policy, the planned intervals "
                "and the meters cannot be checked (a journal from an older bench?)",
            )
            return None, recorded_hash
        given = {str(k): v for k, v in overrides}
        actual_hash = config_sha256(text, given)
        if actual_hash != recorded_hash:
            self.flag(
                "config_hash_mismatch",
                f"the recorded config hashes to {actual_hash[:16]}…, the run recorded "
                f"{recorded_hash[:16]}…: the config text or its overrides were edited",
            )
        try:
            source = Path(str(j.meta("config") or "bench.toml"))
            paths = {k: v for k, v in given.items() if "." in k}  # table.key overrides
            config = parse_scenario(apply_overrides(tomllib.loads(text), paths), source=source)
            config = replace(config, intervals=int(given["intervals"]), speed=float(given["speed"]))
            policy = config.audit_policy
        except (BenchError, tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
            self.flag("config_unreadable", f"the recorded config cannot be rebuilt: {exc}")
            return None, actual_hash
        for key in ("loss_fraction", "tolerance_fraction"):
            kept, real = j.meta(key), getattr(policy, key)
            if not isinstance(kept, int | float) or not math.isclose(kept, real, rel_tol=1e-12):
                self.flag(
                    "policy_edited",
                    f"the journal's {key} says {kept}, the recorded config gives {real}: "
                    "the audit uses the config's",
                    amount=(float(kept) - real) if isinstance(kept, int | float) else math.nan,
                )
        return config, actual_hash

    # -- the hash chain ----------------------------------------------------------------
    def _digests(self, intervals: Sequence[RecordedInterval], config_hash: str) -> None:
        j = self.journal
        stored = {i: (prev, digest) for i, prev, digest in j.digests()}
        previous = genesis(config_hash)
        for kept in intervals:
            i = kept.interval_id
            if i not in stored:
                self.flag("digest_missing", "the interval has no digest", i)
                continue
            prev, digest = stored[i]
            if prev != previous:
                self.flag(
                    "digest_mismatch",
                    "the record does not follow the previous one (an interval before it was "
                    "removed or edited, or the config was)",
                    i,
                )
            if chain_digest(j.interval_payload(i), prev) != digest:
                self.flag("digest_mismatch", "the interval's record was edited after the run", i)
            previous = digest
        summary, seal = j.meta("summary"), j.meta("seal")
        if seal is not None and chain_digest(j.seal_payload(summary), previous) != seal:
            self.flag(
                "seal_mismatch", "the run's summary or its last interval was edited or removed"
            )

    # -- missing data ------------------------------------------------------------------
    def _completeness(self, intervals: Sequence[RecordedInterval], planned: int | None) -> None:
        # an interval a resume settled for a killed run counts: its settlement is recorded
        # (its energy as a catch-up), though not its orders and clearing
        ids = sorted({k.interval_id for k in intervals} | set(self.journal.recovered_settlements()))
        last = max([*ids, planned or 0])
        for i in sorted(set(range(1, max(ids, default=0) + 1)) - set(ids)):
            self.flag("missing_interval", "no record of this interval", i)
        if planned is not None and len(ids) < planned:
            end = self.journal.meta("end_state")
            why = {"stopped": "stopped early", "failed": "failed"}.get(str(end), "cut short")
            self.flag(
                "incomplete",
                f"the run {why} at {len(ids)} of {planned} intervals "
                f"(intervals {len(ids) + 1}–{last} never ran)",
                amount=planned - len(ids),
            )

    def _coverage(self, intervals: Sequence[RecordedInterval], config: ScenarioConfig) -> None:
        coverage = self.journal.coverage()
        configured = [m.meter_id for m in config.bench.meters]
        totals = Counter[str]()
        for counts in coverage.values():
            totals.update(counts)
        silent = [m for m in configured if totals[m] == 0]
        for meter in silent:
            self.flag(
                "meter_never_reported", f"configured meter {meter} sent no reading in the run"
            )
        needed = {p.meter_id: p.agent.participant for p in config.participants}
        if config.feeder_meter:
            needed[config.feeder_meter] = "the feeder"
        for kept in intervals:
            got = coverage.get(kept.interval_id, {})
            for meter, who in needed.items():
                if meter not in silent and got.get(meter, 0) == 0:
                    self.flag(
                        "no_reading",
                        f"no reading from meter {meter} ({who}) in this interval",
                        kept.interval_id,
                    )

    def _orders(self, intervals: Sequence[RecordedInterval], config: ScenarioConfig) -> None:
        """Replay each participant's order from its metered energy and, for the ``fixed``
        strategy, its limit prices; the grid's (a counterparty, no participant) from its
        tariffs."""
        specs = {p.agent.participant: p.agent for p in config.participants}
        specs.update({spec.participant: spec for spec in config.supply_owners})
        carry = dict.fromkeys(specs, 0.0)
        resumed_at = self.journal.meta("resumed_at")
        restarts = set(resumed_at) if isinstance(resumed_at, list) else set()
        for kept in intervals:
            i = kept.interval_id
            if i in restarts:  # a resumed bench restores its sub-Wh rests (or starts at 0)
                carry = dict.fromkeys(specs, 0.0)
                state = self.journal.carry_state(i - 1)
                for name, agent in ({} if state is None else state["agents"]).items():
                    if name in carry:
                        carry[name] = float(agent["carry_wh"])
            metered = {m.participant: m for m in kept.metered}
            books: dict[str, list[Order]] = {}
            for order in kept.orders:
                books.setdefault(order.participant, []).append(order)
            if config.grid is not None:
                self._grid_orders(i, books.pop(config.grid.participant, []), config)
            if config.aggregator is not None:  # the two areas' clearing gives its orders:
                books.pop(config.aggregator.participant, None)  # the market audit checks them
            for name, spec in specs.items():
                m = metered.get(name)
                net_wh = (m.import_wh - m.export_wh if m else 0.0) + carry[name]
                whole_wh = math.floor(abs(net_wh))
                carry[name] = net_wh - math.copysign(whole_wh, net_wh)
                side = Side.BID if net_wh > 0 else Side.OFFER
                price = (
                    spec.bid_price_wei_per_wh if side is Side.BID else spec.offer_price_wei_per_wh
                )
                want = [(side, whole_wh, price)] if whole_wh else []
                got = [(o.side, o.energy_wh, o.price_wei_per_wh) for o in books.pop(name, [])]
                if want == got:
                    continue
                want_wh = sum(e for _, e, _ in want)
                got_wh = sum(e for _, e, _ in got)
                if got_wh != want_wh or [s for s, _, _ in got] != [s for s, _, _ in want]:
                    self.flag(
                        "order_not_metered",
                        f"{name} ordered {_orders_text(got) or 'nothing'} but its metered "
                        f"energy gives {_orders_text(want) or 'no order'}",
                        i,
                        amount=got_wh - want_wh,
                    )
                elif spec.strategy == "fixed":  # other strategies price from the market
                    self.flag(
                        "order_price_edited",
                        f"{name} ordered at "
                        f"{', '.join(labc_per_kwh(p) for _, _, p in got)} LABC/kWh, its limit "
                        f"price in the config is {labc_per_kwh(price)} LABC/kWh",
                        i,
                        amount=sum(p for _, _, p in got) - price * len(got),
                    )
            for name, extra in books.items():
                self.flag(
                    "order_not_metered",
                    f"an order from {name}, who is no participant",
                    i,
                    amount=sum(o.energy_wh for o in extra),
                )

    def _grid_orders(self, i: int, got: Sequence[Order], config: ScenarioConfig) -> None:
        """The grid's offer and bid must be its tariffs' for the interval's start hour."""
        assert config.grid is not None
        step_h = config.market_interval_s / 3600.0
        hour = config.start_hour + (i - 1) * step_h
        want = [
            (o.side, o.energy_wh, o.price_wei_per_wh)
            for o in config.grid.tariff.orders(hour, step_h)
        ]
        seen = [(o.side, o.energy_wh, o.price_wei_per_wh) for o in got]
        if seen != want:
            self.flag(
                "grid_order_edited",
                f"the grid ordered {_orders_text(seen) or 'nothing'}, its tariffs at hour "
                f"{hour:g} give {_orders_text(want) or 'no order'}",
                i,
                amount=sum(e * p for _, e, p in seen) - sum(e * p for _, e, p in want),
            )

    # -- money -------------------------------------------------------------------------
    def _amounts(
        self,
        intervals: Sequence[RecordedInterval],
        amounts: dict[int, list[tuple[Trade, int, str]]],
    ) -> None:
        settlements = self.journal.settlements()
        for kept in intervals:
            i = kept.interval_id
            paid = amounts.get(i, [])
            listed = Counter(kept.settled_trades)
            settled = Counter(t for t, _, _ in paid)
            for trade, n in (listed - settled).items():
                self.flag(
                    "journal_trade_mismatch",
                    f"trade table lists {trade.buyer}←{trade.seller} {trade.energy_wh} Wh at "
                    f"{labc_per_kwh(trade.price_wei_per_wh)} LABC/kWh settled, no such amount "
                    "was settled",
                    i,
                    amount=n * trade.value_wei,
                )
            for trade, n in (settled - listed).items():
                self.flag(
                    "journal_trade_mismatch",
                    f"{trade.buyer}←{trade.seller} {trade.energy_wh} Wh at "
                    f"{labc_per_kwh(trade.price_wei_per_wh)} LABC/kWh settled but missing from "
                    "the trade table",
                    i,
                    amount=-n * trade.value_wei,
                )
            if i not in settlements:
                if kept.settled_trades or paid:
                    self.flag("settlement_missing", "trades but no settlement transaction", i)
                continue
            _, _, _, _, chain_wei, chain_wh = settlements[i]
            self._settled_total(i, paid, chain_wei, chain_wh)
        recorded = {kept.interval_id for kept in intervals}
        recovered = self.journal.recovered_settlements()
        for i, (_, _, _, chain_wei, chain_wh, _) in recovered.items():
            if i not in recorded:  # settled by a resume: its amounts are all the journal has
                self._settled_total(i, amounts.get(i, []), chain_wei, chain_wh)
        for i in sorted(set(amounts) - recorded - set(recovered)):
            self.flag(
                "settlement_missing",
                f"{len(amounts[i])} settled amounts for an interval neither recorded nor "
                "settled by a resume",
                i,
            )

    def _settled_total(
        self, i: int, paid: Sequence[tuple[Trade, int, str]], chain_wei: int, chain_wh: int
    ) -> None:
        total_wei = sum(v for _, v, _ in paid)
        total_wh = sum(t.energy_wh for t, _, _ in paid)
        if (total_wei, total_wh) != (chain_wei, chain_wh):
            self.flag(
                "settled_total_mismatch",
                f"the amounts add up to {labc(total_wei)} LABC for {total_wh} Wh, the "
                f"chain's IntervalSettled event said {labc(chain_wei)} LABC for "
                f"{chain_wh} Wh",
                i,
                amount=total_wei - chain_wei,
            )

    def _record(
        self,
        kept: RecordedInterval,
        paid: list[tuple[Trade, int, str]],
        mechanism: str,
        areas: AreaPlan | None = None,
    ) -> IntervalRecord:
        """The interval for the market audit: the book cleared again (both areas' with an
        aggregator), the settled amounts."""
        again = MECHANISMS[mechanism](kept.orders) if mechanism in MECHANISMS else None
        if areas is not None and again is not None:
            tie = tie_export_wh(
                ((m.participant, m.import_wh, m.export_wh) for m in kept.metered), areas
            )
            again = clear_areas(
                kept.orders, areas, MECHANISMS[mechanism], tie_wh=tie_cap_wh(tie)
            ).clearing
            mechanism = again.mechanism
        trades = again.trades if again is not None else kept.settled_trades
        cleared = Clearing(
            kept.price_wei_per_wh, kept.volume_wh, tuple(trades), mechanism=mechanism
        )
        settlements = [
            SettledTrade(t.buyer, t.seller, t.energy_wh, t.price_wei_per_wh, value, tx)
            for t, value, tx in paid
        ]
        return IntervalRecord(
            kept.interval_id,
            kept.metered,
            cleared,
            settlements,
            feeder_import_wh=kept.feeder_import_wh,
            orders=kept.orders,
            price_components_wei_per_wh=kept.price_components_wei_per_wh,
            grid=kept.grid,
            areas=areas,
        )

    # -- energy found late -------------------------------------------------------------
    def _with_catch_ups(
        self,
        intervals: Sequence[RecordedInterval],
        records: Sequence[IntervalRecord],
        market: AuditReport,
        policy: AuditPolicy,
        config: ScenarioConfig | None,
    ) -> tuple[list[EnergyBalance], list[int], AuditReport]:
        """The energy balance with the catch-ups in it: energy a late meter's counters
        attributed to the interval it was consumed in joins that interval; energy of an
        outage the counters cannot place joins every interval the outage overlaps, which
        are then balanced together (their last row carries the group's unexplained
        energy). Returns the balance per interval, the size of the group each balance
        closes (0 for a row inside a group) and the audit with its energy findings
        redone for the intervals that changed."""
        balances = list(market.balances)
        sizes = [1] * len(balances)
        catch_ups = self.journal.catch_up_rows()
        if config is None or not catch_ups or not intervals:
            return balances, sizes, market
        ids = [kept.interval_id for kept in intervals]
        group = {i: i for i in ids}  # each interval's group, named by its first interval

        def join(members: list[int]) -> None:
            root = group[members[0]]
            for i in members:
                old = group[i]
                for j, g in group.items():
                    if g == old:
                        group[j] = root

        ends = {i: row[0] for i, row in self.journal.settlements().items()}
        placed: dict[int, list[CatchUpRow]] = {}
        for c in catch_ups:
            if c.interval_id is not None and c.interval_id in group:
                placed.setdefault(c.interval_id, []).append(c)
                continue
            # the intervals the outage overlaps by more than the clocks' rounding
            slack_s = 1e-3 * config.market_interval_s
            members = [
                i
                for i in ids
                if i in ends
                and ends[i] - config.market_interval_s < c.to_sim_s - slack_s
                and ends[i] > c.from_sim_s + slack_s
            ] or [  # none recorded (an interval recovered from the chain, an instant):
                # the interval the bench came back in, as its meters' counters did
                next((i for i in ids if i in ends and ends[i] > c.to_sim_s + slack_s), ids[-1])
            ]
            join(members)
            placed.setdefault(members[-1], []).append(c)
        changed = set(placed)
        groups: dict[int, list[int]] = {}
        for i in ids:
            groups.setdefault(group[i], []).append(i)
        findings = list(market.findings)
        position = {i: n for n, i in enumerate(ids)}
        for members in groups.values():
            if not changed & set(members):
                continue
            found = [c for i in members for c in placed.get(i, [])]
            balance, flagged = _group_balance(
                [intervals[position[i]] for i in members], found, policy, config.feeder_meter
            )
            findings = [
                f
                for f in findings
                if not (f.kind == "energy_imbalance" and f.interval_id in members)
            ]
            if flagged is not None:
                span = f"intervals {members[0]}–{members[-1]}" if len(members) > 1 else None
                text = flagged.message if span is None else f"{span} together: {flagged.message}"
                findings.append(replace(flagged, message=f"{text} (catch-ups included)"))
            for i in members:
                n = position[i]
                balances[n] = replace(balances[n], unexplained_wh=None)
                sizes[n] = 0
            balances[position[members[-1]]] = balance
            sizes[position[members[-1]]] = len(members)
        return balances, sizes, replace(market, findings=tuple(findings))

    # -- the tap over the run ----------------------------------------------------------
    def _cusum(
        self, balances: Sequence[EnergyBalance], sizes: Sequence[int], config: ScenarioConfig | None
    ) -> CusumResult | None:
        measured = [
            (b, n) for b, n in zip(balances, sizes, strict=True) if b.unexplained_wh is not None
        ]
        if not measured:
            return None
        meters = len(config.bench.meters) if config is not None else 1
        # a boundary's cut error is at most half an interval's tolerance, so any window's
        # sum holds at most one tolerance of it; meters cut by their readings' arrival
        # get twice that (the host's jitter is not bounded as tightly)
        own_clock = config is not None and all(
            m.kind in METER_TIME_KINDS for m in config.bench.meters
        )
        result = page_cusum(
            [(b.interval_id, float(b.unexplained_wh or 0.0)) for b, _ in measured],
            [float(meters * n) for _, n in measured],
            (1.0 if own_clock else 2.0) * max(b.tolerance_wh for b, _ in measured),
        )
        if result.alarm_interval is not None:
            step = next(s for s in result.steps if s.interval_id == result.alarm_interval)
            self.flag(
                "cumulative_theft",
                f"{step.statistic_wh:.1f} Wh missing, accumulated since the run's last "
                f"balanced interval, over the {result.threshold_wh:.1f} Wh threshold "
                "(a persistent unmetered load: theft or pilferage?)",
                result.alarm_interval,
                amount=step.statistic_wh,
            )
        return result


def _group_balance(
    members: Sequence[RecordedInterval],
    catch_ups: Sequence[CatchUpRow],
    policy: AuditPolicy,
    feeder_meter: str | None,
) -> tuple[EnergyBalance, Finding | None]:
    """The energy balance of consecutive intervals taken together with their catch-ups,
    and its energy finding (None when it closes)."""
    imports: dict[str, float] = {}
    exports: dict[str, float] = {}
    feeder: float | None = 0.0
    for kept in members:
        for m in kept.metered:
            imports[m.participant] = imports.get(m.participant, 0.0) + m.import_wh
            exports[m.participant] = exports.get(m.participant, 0.0) + m.export_wh
        feeder = (
            None
            if feeder is None or kept.feeder_import_wh is None
            else (feeder + kept.feeder_import_wh)
        )
    for c in catch_ups:
        if feeder_meter is not None and c.meter_id == feeder_meter:
            feeder = None if feeder is None else feeder + c.import_wh - c.export_wh
            continue
        imports[c.participant] = imports.get(c.participant, 0.0) + c.import_wh
        exports[c.participant] = exports.get(c.participant, 0.0) + c.export_wh
    last = members[-1].interval_id
    record = IntervalRecord(
        last,
        tuple(MeteredEnergy(p, imports[p], exports[p]) for p in sorted(imports)),
        Clearing(None, 0, ()),
        [],
        feeder_import_wh=feeder,
    )
    allowance = sum(kept.step_allowance_wh for kept in members)
    found = audit([record], policy.widened(allowance))
    flagged = next((f for f in found.findings if f.kind == "energy_imbalance"), None)
    return found.balances[0], flagged


def _audit(
    records: list[IntervalRecord], intervals: list[RecordedInterval], policy: AuditPolicy
) -> AuditReport:
    """The audit of every interval, each with the step allowance the run recorded."""
    parts = [
        audit([r], policy.widened(kept.step_allowance_wh))
        for r, kept in zip(records, intervals, strict=True)
    ]
    return AuditReport(
        sum(p.settlements_checked for p in parts),
        sum(p.value_recomputed_wei for p in parts),
        sum(p.value_settled_wei for p in parts),
        tuple(b for p in parts for b in p.balances),
        tuple(f for p in parts for f in p.findings),
    )


def _row(
    kept: RecordedInterval, record: IntervalRecord, unexplained_wh: float | None
) -> IntervalRow:
    grid = kept.grid
    own = [o for o in kept.orders if grid is None or o.participant != grid.participant]
    components = dict(kept.price_components_wei_per_wh)
    return IntervalRow(
        record.interval_id,
        record.clearing.volume_wh,
        record.clearing.price_wei_per_wh,
        len(record.settlements),
        len(record.clearing.trades) - len(record.settlements),
        sum(s.value_wei for s in record.settlements),
        unexplained_wh,
        interval=record.interval_id,
        cleared_price_wei_per_wh=record.clearing.price_wei_per_wh,
        volume_wh=record.clearing.volume_wh,
        offered_wh=sum(o.energy_wh for o in own if o.side is Side.OFFER),
        bid_wh=sum(o.energy_wh for o in own if o.side is Side.BID),
        grid_import_wh=None if grid is None else grid.feeder_import_wh,
        grid_export_wh=None if grid is None else grid.feeder_export_wh,
        soc_wh=kept.soc_wh,
        instantaneous_price_wei_per_wh=components.get("total"),
        price_components=components,
    )


def format_report(report: RunReport) -> str:
    """The report as a text table, totals and findings."""
    lines = [
        f"run journal {report.journal}",
        "interval  cleared Wh  price LABC/kWh  settled  rejected  value LABC  unexplained Wh",
    ]
    rows: list[tuple[int, str]] = []  # in interval order, the resume's among the others
    for r in report.rows:
        price = labc_per_kwh(r.price_wei_per_wh)
        unexplained = "-" if r.unexplained_wh is None else f"{r.unexplained_wh:.1f}"
        rows.append(
            (
                r.interval_id,
                f"{r.interval_id:8d}  {r.cleared_wh:10d}  {price:>14}  {r.settled:7d}  "
                f"{r.rejected:8d}  {labc(r.value_settled_wei):>10}  {unexplained:>14}",
            )
        )
    for i, (tx, _, _, value_wei, energy_wh, sent_again) in sorted(report.recovered.items()):
        how = "sent again" if sent_again else "found on chain"
        rows.append(
            (
                i,
                f"{i:8d}  settled by a resume ({how}): {energy_wh} Wh for "
                f"{labc(value_wei)} LABC in {tx}",
            )
        )
    lines += [line for _, line in sorted(rows, key=lambda row: row[0])]
    a = report.audit
    lines.append(
        f"{a.settlements_checked} settlements recomputed: {labc(a.value_recomputed_wei)} LABC "
        f"recomputed, {labc(a.value_settled_wei)} LABC settled"
    )
    if report.cusum is not None:
        c = report.cusum
        lines.append(
            f"run-level CUSUM of unexplained energy: peak {c.peak_wh:.1f} Wh, threshold "
            f"{c.threshold_wh:.1f} Wh"
            + (f", alarm at interval {c.alarm_interval}" if c.alarm_interval else "")
        )
    lines.append(
        f"chain reconciled at {report.chain_checked}"
        if report.chain_checked
        else "chain not consulted (pass --chain-url to reconcile)"
    )
    if not report.complete:
        lines.append("run INCOMPLETE")
    lines.append("audit clean" if a.clean else f"{len(a.findings)} audit findings:")
    lines.extend(f"  {message(f)}" for f in a.findings)
    return "\n".join(lines)


def _orders_text(orders: Sequence[tuple[Side, int, int]]) -> str:
    """``bid 1200 Wh at 0.085 LABC/kWh, offer …`` for a finding's message."""
    return ", ".join(
        f"{side.value} {energy_wh} Wh at {labc_per_kwh(price)} LABC/kWh"
        for side, energy_wh, price in orders
    )
