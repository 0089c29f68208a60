"""The automatic audit: reconcile what the meters measured, what cleared and what settled.

For each interval it

* re-runs the interval's mechanism on the recorded order book (when given) and flags a
  ``clearing_mismatch`` in price or volume, and checks that the recorded price components
  add up to their total (``price_breakdown_mismatch``);
* recomputes every settled trade's value as ``energy_wh * price_wei_per_wh`` (exact wei)
  and flags an ``overcharge`` or ``undercharge``;
* matches settlements to the cleared trades one to one and flags a ``missing_settlement``,
  an ``unexpected_settlement`` or a settlement that ``differs`` in energy or price, and a
  cleared trade whose price is not the interval's uniform price (``price_mismatch``);
* checks that each participant sold at most what its meter exported and bought at most
  what it imported (plus ``carry_wh`` for the whole-Wh rounding of orders): ``oversold``,
  ``overbought``;
* closes the energy balance ``injected = consumed + losses + unexplained`` with
  ``injected = Σ export + feeder import`` (the feeder meter at the point of common
  coupling), ``consumed = Σ import`` and ``losses = loss_fraction * injected``; an
  ``energy_imbalance`` beyond the tolerance is the signal for theft or pilferage. Without
  a feeder reading the balance cannot be closed and is reported as not measured;
* with the city grid as a counterparty (``IntervalRecord.grid``), checks that every Wh
  through the feeder was billed or paid: the grid's trades are backed by the feeder meter
  (it sold at most the feeder's import, bought at most its export; under the ``utility``
  mechanism, with no local market, it bills every meter: at most their import and export)
  and the feeder's net
  import less the expected losses (and less any flagged ``energy_imbalance``, reported on
  its own) equals what the grid sold less what it bought, within the tolerance plus one
  ``carry_wh`` per participant (whole-Wh orders): ``unbilled_feeder``;
* with two market areas (``IntervalRecord.areas``, :mod:`pricing.areas`), clears both
  again from the participants' and the grid's orders (``clearing_mismatch``, and
  ``aggregator_order_edited`` when the aggregator's recorded orders are not the ones that
  gives), bounds the aggregator's trades by the campus's metered net export, and checks
  from the settled amounts that the aggregator sold all it bought (``aggregator_holds``)
  and paid each saver exactly its share of the city revenue less the fee
  (``pass_through_mismatch``).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from pricing.areas import AreaPlan, clear_areas, pass_through, tie_cap_wh, tie_export_wh
from pricing.book import Clearing, Order, Trade
from pricing.clearing import MECHANISMS
from pricing.errors import PricingInputError
from pricing.units import labc, labc_per_kwh, to_labc_per_kwh


class Metered(Protocol):
    """A participant's metered energy over one interval (e.g. the bench's MeteredEnergy)."""

    @property
    def participant(self) -> str: ...
    @property
    def import_wh(self) -> float: ...
    @property
    def export_wh(self) -> float: ...


@dataclass(frozen=True)
class SettledTrade:
    """A trade as settled on chain, with the amount actually moved (wei)."""

    buyer: str
    seller: str
    energy_wh: int
    price_wei_per_wh: int
    value_wei: int
    tx_hash: str | None = None

    @classmethod
    def of(cls, trade: Trade, tx_hash: str | None = None) -> SettledTrade:
        """The correct settlement of ``trade``."""
        return cls(
            trade.buyer,
            trade.seller,
            trade.energy_wh,
            trade.price_wei_per_wh,
            trade.value_wei,
            tx_hash,
        )


@dataclass(frozen=True)
class IntervalRecord:
    """What the bench recorded for one interval."""

    interval_id: int
    metered: Sequence[Metered]
    clearing: Clearing
    settlements: Sequence[SettledTrade]
    feeder_import_wh: float | None = None
    orders: Sequence[Order] | None = None
    price_components_wei_per_wh: Mapping[str, float] | None = None
    grid: GridFlow | None = None
    areas: AreaPlan | None = None
    """The two market areas and the aggregator between them (None: one market)."""

    @property
    def tie_wh(self) -> float:
        """What the campus sent towards the city (0 with one market)."""
        if self.areas is None:
            return 0.0
        return tie_export_wh(
            ((m.participant, m.import_wh, m.export_wh) for m in self.metered), self.areas
        )


@dataclass(frozen=True)
class GridFlow:
    """The city grid's name in the market and what the feeder meter measured (Wh)."""

    participant: str
    feeder_import_wh: float
    feeder_export_wh: float


@dataclass(frozen=True)
class AuditPolicy:
    """Expected losses and the slack allowed before a finding is raised."""

    loss_fraction: float = 0.02
    tolerance_wh: float = 2.0
    tolerance_fraction: float = 0.005
    carry_wh: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.loss_fraction < 1.0 or not 0.0 <= self.tolerance_fraction < 1.0:
            raise PricingInputError("loss_fraction and tolerance_fraction must be in [0, 1)")
        if self.tolerance_wh < 0 or self.carry_wh < 0:
            raise PricingInputError("tolerance_wh and carry_wh must be ≥ 0")

    def widened(self, extra_wh: float) -> AuditPolicy:
        """The same policy with ``extra_wh`` more absolute tolerance (say for power steps)."""
        return replace(self, tolerance_wh=self.tolerance_wh + max(extra_wh, 0.0))


@dataclass(frozen=True)
class Finding:
    """One mismatch; ``amount`` is in wei for money findings and in Wh for energy ones."""

    interval_id: int
    kind: str
    message: str
    participant: str | None = None
    amount: float = 0.0


@dataclass(frozen=True)
class EnergyBalance:
    """``injected_wh = consumed_wh + losses_wh + unexplained_wh`` for one interval."""

    interval_id: int
    injected_wh: float
    consumed_wh: float
    losses_wh: float
    unexplained_wh: float | None
    tolerance_wh: float

    @property
    def flagged(self) -> bool:
        """True when the unexplained energy exceeds the tolerance (never when not measured)."""
        return self.unexplained_wh is not None and abs(self.unexplained_wh) > self.tolerance_wh


@dataclass(frozen=True)
class AuditReport:
    """The reconciliation of a run (or one interval)."""

    settlements_checked: int
    value_recomputed_wei: int
    value_settled_wei: int
    balances: tuple[EnergyBalance, ...]
    findings: tuple[Finding, ...] = field(default_factory=tuple)

    @property
    def clean(self) -> bool:
        """True when nothing was flagged."""
        return not self.findings

    def messages(self) -> tuple[str, ...]:
        """One line per finding, e.g. for ``IntervalReport.audit_findings``."""
        return tuple(f"interval {f.interval_id}: {f.kind}: {f.message}" for f in self.findings)


def audit(records: Sequence[IntervalRecord], policy: AuditPolicy | None = None) -> AuditReport:
    """Reconcile every interval; see the module docstring for the checks."""
    policy = policy or AuditPolicy()
    findings: list[Finding] = []
    balances: list[EnergyBalance] = []
    checked = recomputed = settled = 0
    for record in records:
        for s in record.settlements:
            checked += 1
            recomputed += s.energy_wh * s.price_wei_per_wh
            settled += s.value_wei
        findings += _check_values(record)
        findings += _check_recorded_market(record) if record.areas is None else _check_areas(record)
        findings += _check_pass_through(record)
        findings += _check_against_clearing(record)
        findings += _check_backing(record, policy)
        balance = _balance(record, policy)
        findings += _check_grid(record, policy, balance)
        balances.append(balance)
        if balance.flagged and balance.unexplained_wh is not None:
            what = "missing (theft or pilferage?)" if balance.unexplained_wh > 0 else "surplus"
            findings.append(
                Finding(
                    record.interval_id,
                    "energy_imbalance",
                    f"{balance.unexplained_wh:.1f} Wh {what}: injected {balance.injected_wh:.1f},"
                    f" consumed {balance.consumed_wh:.1f}, expected losses"
                    f" {balance.losses_wh:.1f} (tolerance {balance.tolerance_wh:.1f} Wh)",
                    amount=balance.unexplained_wh,
                )
            )
    return AuditReport(checked, recomputed, settled, tuple(balances), tuple(findings))


def _check_values(record: IntervalRecord) -> list[Finding]:
    out = []
    for s in record.settlements:
        diff = s.value_wei - s.energy_wh * s.price_wei_per_wh
        if diff:
            kind = "overcharge" if diff > 0 else "undercharge"
            out.append(
                Finding(
                    record.interval_id,
                    kind,
                    f"{s.buyer} paid {labc(s.value_wei)} LABC to {s.seller} for "
                    f"{s.energy_wh} Wh at {labc_per_kwh(s.price_wei_per_wh)} LABC/kWh, which "
                    f"is {labc(s.energy_wh * s.price_wei_per_wh)} LABC ({'+' if diff > 0 else ''}"
                    f"{labc(diff)} LABC; tx {s.tx_hash or 'unknown'})",
                    participant=s.buyer,
                    amount=diff,
                )
            )
    return out


def _check_recorded_market(record: IntervalRecord) -> list[Finding]:
    """Re-run the mechanism on the recorded book; check the recorded price breakdown adds up."""
    out = []
    i, clearing = record.interval_id, record.clearing
    if record.orders is not None and clearing.mechanism in MECHANISMS:
        again = MECHANISMS[clearing.mechanism](record.orders)
        if (again.price_wei_per_wh, again.volume_wh) != (
            clearing.price_wei_per_wh,
            clearing.volume_wh,
        ):
            out.append(
                Finding(
                    i,
                    "clearing_mismatch",
                    f"recorded {clearing.volume_wh} Wh at "
                    f"{labc_per_kwh(clearing.price_wei_per_wh)} LABC/kWh, but the recorded "
                    f"book clears {again.volume_wh} Wh at "
                    f"{labc_per_kwh(again.price_wei_per_wh)} LABC/kWh ({clearing.mechanism})",
                    amount=clearing.value_wei - again.value_wei,
                )
            )
    parts = record.price_components_wei_per_wh
    if parts is not None and "total" in parts:
        total = sum(v for k, v in parts.items() if k != "total")
        if abs(total - parts["total"]) > 1e-9 * max(1.0, abs(parts["total"])):
            out.append(
                Finding(
                    i,
                    "price_breakdown_mismatch",
                    f"price components add up to {to_labc_per_kwh(total):.9f} LABC/kWh, "
                    f"recorded total is {to_labc_per_kwh(parts['total']):.9f} LABC/kWh",
                    amount=parts["total"] - total,
                )
            )
    return out


def _base_mechanism(clearing: Clearing) -> str:
    """The mechanism each area cleared with (``areas/pay_as_clear``: pay_as_clear)."""
    return clearing.mechanism.removeprefix("areas/")


def _check_areas(record: IntervalRecord) -> list[Finding]:
    """Both areas cleared again from the recorded book (less the aggregator's orders, which
    the clearing gives) must give the recorded trades and the aggregator's orders."""
    plan, clearing, orders = record.areas, record.clearing, record.orders
    name = _base_mechanism(clearing)
    if plan is None or orders is None or name not in MECHANISMS or name == "utility":
        return []
    again = clear_areas(orders, plan, MECHANISMS[name], tie_wh=tie_cap_wh(record.tie_wh))
    i, out = record.interval_id, []
    if (again.clearing.price_wei_per_wh, again.clearing.volume_wh) != (
        clearing.price_wei_per_wh,
        clearing.volume_wh,
    ) or Counter(_key(t) for t in again.clearing.trades) != Counter(
        _key(t) for t in clearing.trades
    ):
        out.append(
            Finding(
                i,
                "clearing_mismatch",
                f"recorded {clearing.volume_wh} Wh at "
                f"{labc_per_kwh(clearing.price_wei_per_wh)} LABC/kWh in both areas, but the "
                f"recorded book clears {again.clearing.volume_wh} Wh at "
                f"{labc_per_kwh(again.clearing.price_wei_per_wh)} LABC/kWh ({clearing.mechanism})",
                amount=clearing.value_wei - again.clearing.value_wei,
            )
        )
    recorded = sorted(_order_key(o) for o in orders if o.participant == plan.aggregator)
    wanted = sorted(_order_key(o) for o in again.orders if o.participant == plan.aggregator)
    if recorded != wanted:
        out.append(
            Finding(
                i,
                "aggregator_order_edited",
                f"{plan.aggregator} ordered {recorded}, the two areas' clearing gives {wanted} "
                "(side, Wh, wei/Wh)",
                participant=plan.aggregator,
            )
        )
    return out


def _order_key(o: Order) -> tuple[str, int, int]:
    return (o.side.value, o.energy_wh, o.price_wei_per_wh)


def _check_pass_through(record: IntervalRecord) -> list[Finding]:
    """From the settled amounts: the aggregator sold what it bought and paid each saver
    its delivered share of the city revenue less the fee, to the wei."""
    plan = record.areas
    if plan is None:
        return []
    agg, i = plan.aggregator, record.interval_id
    revenue = sum(s.value_wei for s in record.settlements if s.seller == agg)
    sold = sum(s.energy_wh for s in record.settlements if s.seller == agg)
    delivered: Counter[str] = Counter()
    paid: Counter[str] = Counter()
    for s in record.settlements:
        if s.buyer == agg:
            delivered[s.seller] += s.energy_wh
            paid[s.seller] += s.value_wei
    out = []
    if sold != sum(delivered.values()):
        out.append(
            Finding(
                i,
                "aggregator_holds",
                f"{agg} bought {sum(delivered.values())} Wh from the savers and sold {sold} Wh "
                "in the city: it must sell exactly what it buys",
                participant=agg,
                amount=sum(delivered.values()) - sold,
            )
        )
    owed = pass_through(revenue, plan.fee_bp, delivered).paid_wei
    for saver in sorted(set(owed) | set(paid)):
        diff = paid.get(saver, 0) - owed.get(saver, 0)
        if diff:
            out.append(
                Finding(
                    i,
                    "pass_through_mismatch",
                    f"{agg} paid {saver} {labc(paid.get(saver, 0))} LABC for "
                    f"{delivered.get(saver, 0)} Wh; its share of the city revenue "
                    f"{labc(revenue)} LABC less the {plan.fee_bp} bp fee is "
                    f"{labc(owed.get(saver, 0))} LABC",
                    participant=saver,
                    amount=diff,
                )
            )
    return out


def _check_against_clearing(record: IntervalRecord) -> list[Finding]:
    i, uniform = record.interval_id, record.clearing.price_wei_per_wh
    out = []
    if uniform is not None and record.clearing.mechanism.startswith("pay_as_clear"):
        for t in record.clearing.trades:
            if t.price_wei_per_wh != uniform:
                out.append(
                    Finding(
                        i,
                        "price_mismatch",
                        f"trade {t.buyer}←{t.seller} at {labc_per_kwh(t.price_wei_per_wh)} "
                        f"LABC/kWh, but the interval cleared at {labc_per_kwh(uniform)} LABC/kWh",
                        participant=t.buyer,
                    )
                )
    cleared = Counter(_key(t) for t in record.clearing.trades)
    paid = Counter(_key(s) for s in record.settlements)
    missing, extra = cleared - paid, paid - cleared
    by_pair: defaultdict[tuple[str, str], list[tuple[str, str, int, int]]] = defaultdict(list)
    for key in extra.elements():
        by_pair[key[:2]].append(key)
    for key in missing.elements():
        buyer, seller, energy, price = key
        if by_pair[(buyer, seller)]:
            _, _, got_energy, got_price = by_pair[(buyer, seller)].pop(0)
            out.append(
                Finding(
                    i,
                    "settlement_differs",
                    f"{buyer}←{seller} cleared {energy} Wh at {labc_per_kwh(price)} LABC/kWh "
                    f"but settled {got_energy} Wh at {labc_per_kwh(got_price)} LABC/kWh",
                    participant=buyer,
                    amount=got_energy * got_price - energy * price,
                )
            )
        else:
            out.append(
                Finding(
                    i,
                    "missing_settlement",
                    f"{buyer}←{seller} {energy} Wh at {labc_per_kwh(price)} LABC/kWh cleared "
                    "but never settled",
                    participant=seller,
                    amount=energy * price,
                )
            )
    for leftovers in by_pair.values():
        for buyer, seller, energy, price in leftovers:
            out.append(
                Finding(
                    i,
                    "unexpected_settlement",
                    f"{buyer}←{seller} {energy} Wh at {labc_per_kwh(price)} LABC/kWh settled "
                    "but never cleared",
                    participant=buyer,
                    amount=energy * price,
                )
            )
    return out


def _key(t: Trade | SettledTrade) -> tuple[str, str, int, int]:
    return (t.buyer, t.seller, t.energy_wh, t.price_wei_per_wh)


def _check_backing(record: IntervalRecord, policy: AuditPolicy) -> list[Finding]:
    sold: Counter[str] = Counter()
    bought: Counter[str] = Counter()
    for t in record.clearing.trades:
        sold[t.seller] += t.energy_wh
        bought[t.buyer] += t.energy_wh
    exported: defaultdict[str, float] = defaultdict(float)
    imported: defaultdict[str, float] = defaultdict(float)
    for m in record.metered:
        exported[m.participant] += m.export_wh
        imported[m.participant] += m.import_wh
    if record.grid is not None:  # the grid's side of the feeder: it exports what we import,
        # and the microgrid's expected line losses lie between its meter and the trades
        # (a flagged energy_imbalance is reported on its own, not again as a backing gap)
        balance = _balance(record, policy)
        flagged = abs(balance.unexplained_wh or 0.0) if balance.flagged else 0.0
        slack = balance.losses_wh + balance.tolerance_wh + flagged
        if record.clearing.mechanism == "utility":  # the utility bills every meter itself:
            # it delivers each import and takes each export, the feeder nets them
            delivered = sum(m.import_wh for m in record.metered)
            taken = sum(m.export_wh for m in record.metered)
        else:
            delivered, taken = record.grid.feeder_import_wh, record.grid.feeder_export_wh
        exported[record.grid.participant] += delivered + slack
        imported[record.grid.participant] += taken + slack
    if record.areas is not None:  # the aggregator's energy passes the campus-city tie
        exported[record.areas.aggregator] += record.tie_wh
        imported[record.areas.aggregator] += record.tie_wh
    out = []
    checks = (
        ("oversold", "sold", sold, "exported", exported),
        ("overbought", "bought", bought, "imported", imported),
    )
    for kind, verb, traded, metered_verb, metered in checks:
        for who, energy in traded.items():
            if energy > metered[who] + policy.carry_wh:
                out.append(
                    Finding(
                        record.interval_id,
                        kind,
                        f"{who} {verb} {energy} Wh but its meter {metered_verb} "
                        f"{metered[who]:.1f} Wh",
                        participant=who,
                        amount=energy - metered[who],
                    )
                )
    return out


def _balance(record: IntervalRecord, policy: AuditPolicy) -> EnergyBalance:
    consumed = sum(m.import_wh for m in record.metered)
    exported = sum(m.export_wh for m in record.metered)
    feeder = record.feeder_import_wh
    injected = exported + (feeder or 0.0)
    losses = policy.loss_fraction * injected
    tolerance = policy.tolerance_wh + policy.tolerance_fraction * injected
    unexplained = None if feeder is None else injected - consumed - losses
    return EnergyBalance(record.interval_id, injected, consumed, losses, unexplained, tolerance)


def _check_grid(
    record: IntervalRecord, policy: AuditPolicy, balance: EnergyBalance
) -> list[Finding]:
    grid = record.grid
    if grid is None:
        return []
    sold = sum(t.energy_wh for t in record.clearing.trades if t.seller == grid.participant)
    bought = sum(t.energy_wh for t in record.clearing.trades if t.buyer == grid.participant)
    net_wh = grid.feeder_import_wh - grid.feeder_export_wh
    # energy the balance flags as unexplained (a tap, a skewed cut) is its own finding
    flagged_wh = balance.unexplained_wh if balance.flagged and balance.unexplained_wh else 0.0
    unbilled = net_wh - balance.losses_wh - flagged_wh - (sold - bought)
    slack = balance.tolerance_wh + policy.carry_wh * max(1, len(record.metered))
    if abs(unbilled) <= slack:
        return []
    what = "imported but not billed" if unbilled > 0 else "exported but not paid"
    return [
        Finding(
            record.interval_id,
            "unbilled_feeder",
            f"{abs(unbilled):.1f} Wh {what}: the feeder imported {grid.feeder_import_wh:.1f} "
            f"and exported {grid.feeder_export_wh:.1f} Wh (expected losses "
            f"{balance.losses_wh:.1f} Wh), the grid sold {sold} and bought {bought} Wh "
            f"(slack {slack:.1f} Wh)",
            participant=grid.participant,
            amount=unbilled,
        )
    ]
