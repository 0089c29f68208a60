// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {IERC20} from "./IERC20.sol";

/// @title GridMarket: prepaid escrow, meter registry, supply sessions and exactly-once
///        batch settlement of trades that both parties signed and their meters back.
/// @notice Money is a 6-decimal ERC-20 (LabCredit); "wei" means its smallest unit.
///         Energy is integer Wh, prices integer wei per Wh. See docs/chain.md for the
///         trust model, the signed messages and the packed batch encoding.
contract GridMarket {
    // ---------------------------------------------------------------- types

    enum MeterStatus {
        None,
        Active,
        Retired
    }

    /// @notice Who signs a meter's readings: the meter's own key, or the bench for it.
    enum Attestation {
        None,
        Meter,
        Bench
    }

    /// @dev slot 0: signer | ownerIndex | ratedPowerW | status | kind;
    ///      slot 1: the last accepted reading (seq | timeS | importWh | exportWh).
    struct Meter {
        address signer;
        uint32 ownerIndex;
        uint32 ratedPowerW;
        MeterStatus status;
        Attestation kind;
        uint32 seq;
        uint64 timeS;
        uint64 importWh;
        uint64 exportWh;
    }

    /// @notice A meter's cumulative counters signed by its signer (bench/attestation.py):
    ///         sha256("GBR1" | meterId | seq u32 | importWh u64 | exportWh u64 | timeS u64).
    struct SignedCounters {
        bytes32 meterId;
        uint32 seq;
        uint64 importWh;
        uint64 exportWh;
        uint64 timeS;
        uint8 v;
        bytes32 r;
        bytes32 s;
    }

    struct Session {
        address consumer;
        uint96 depositWei;
        bytes32 meterId;
        uint64 startImportWh;
        uint64 expiresAt;
        uint32 priceWeiPerWh;
        bool open;
    }

    // ------------------------------------------------------------ constants

    /// @notice Largest batch accepted by settle (trades, participants): the largest fits
    /// one transaction under EIP-7825's 2^24 gas cap; see docs/chain.md.
    uint256 public constant MAX_BATCH_TRADES = 4096;
    uint256 public constant MAX_BATCH_PARTICIPANTS = 128;
    /// @notice Largest line-loss allowance of a grid connection, in basis points (10 %).
    uint256 public constant MAX_LOSS_ALLOWANCE_BP = 1000;
    /// @notice Longest supply session a consumer may open, in seconds.
    uint256 public constant MAX_SESSION_S = 30 days;
    /// @notice Bytes per participant record of a batch: u32 index, u32 bid energy Wh, u32
    ///         bid limit, u32 offer energy Wh, u32 offer limit, then one signature r, s, v
    ///         over both sides (one ecrecover per participant, not per side).
    uint256 public constant RECORD_BYTES = 85;

    /// @notice insufficient balance
    uint8 public constant REJECT_INSUFFICIENT_BALANCE = 1;
    /// @notice no signed order for that side
    uint8 public constant REJECT_NO_ORDER = 2;
    /// @notice self trade
    uint8 public constant REJECT_SELF_TRADE = 3;
    /// @notice price outside the signed limits
    uint8 public constant REJECT_PRICE_OUTSIDE_LIMITS = 4;
    /// @notice above the signed energy
    uint8 public constant REJECT_ABOVE_SIGNED_ENERGY = 5;
    /// @notice not backed by attested meter energy
    uint8 public constant REJECT_NOT_METERED = 6;

    /// @notice accepted
    uint8 public constant READING_OK = 0;
    /// @notice unknown or retired meter
    uint8 public constant READING_UNKNOWN_METER = 1;
    /// @notice already recorded
    uint8 public constant READING_ALREADY_RECORDED = 2;
    /// @notice stale reading
    uint8 public constant READING_STALE = 3;
    /// @notice bad signature
    uint8 public constant READING_BAD_SIGNATURE = 4;
    /// @notice energy counter went backwards
    uint8 public constant READING_COUNTER_BACKWARDS = 5;
    /// @notice counter rose faster than the rated power allows
    uint8 public constant READING_TOO_FAST = 6;

    /// @notice A participant's order for one interval: its bid and its offer (energy 0 = no
    ///         order on that side), signed together.
    bytes32 public constant ORDER_TYPEHASH = keccak256(
        "Order(address participant,uint64 intervalId,uint64 bidEnergyWh,uint64 bidLimitPriceWeiPerWh,uint64 offerEnergyWh,uint64 offerLimitPriceWeiPerWh)"
    );
    bytes32 private constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    uint256 private constant HALF_ORDER = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0;

    // Memory ledger word of one batch slot (see _loadSlot).
    uint256 private constant BALANCE_MASK = (1 << 104) - 1;
    uint256 private constant U32 = 0xffffffff;
    uint256 private constant HAS_BID = 1 << 232;
    uint256 private constant HAS_OFFER = 1 << 233;
    uint256 private constant BID_METER_BOUND = 1 << 234;
    uint256 private constant OFFER_METER_BOUND = 1 << 235;

    // ---------------------------------------------------------------- state

    IERC20 public immutable token;
    bytes32 private immutable domainSeparatorAtDeploy;
    uint256 private immutable chainIdAtDeploy;

    address public operator;
    address public pendingOperator;
    address public registrar;
    address public settler;
    /// @notice A settled interval id may exceed the highest settled one by at most this.
    uint64 public maxIntervalStep;
    uint64 public highestIntervalId;

    uint32 public participantCount;
    /// @dev participant index (from 1) => wallet (160 bits) | prepaid balance (96 bits).
    mapping(uint256 => uint256) private accounts;
    /// @dev participant index => bought | sold | attested import | attested export (u64 Wh each).
    mapping(uint256 => uint256) private energy;
    mapping(address => uint32) public participantIndex;
    /// @notice Σ prepaid balances; holdings = Σ balances + escrow + surplus.
    uint256 public totalBalancesWei;

    mapping(bytes32 => Meter) public meters;
    mapping(bytes32 => string) public meterLocation;
    mapping(bytes32 => uint32) public tariffWeiPerWh;
    mapping(bytes32 => uint256) public activeSession;

    uint256 public sessionCount;
    mapping(uint256 => Session) public sessions;
    uint256 public totalSessionDepositsWei;

    /// @notice keccak256 of each settled interval's packed batch; zero while unsettled.
    mapping(uint64 => bytes32) public batchHash;
    uint256 public settledIntervalCount;

    /// @notice The meter at the grid connection (zero for none): its counters are the
    ///         microgrid's, so they back its owner (the city grid) reversed, its import as
    ///         the grid's export and its export as the grid's import.
    bytes32 public gridMeterId;
    /// @notice The grid buys what the sellers' meters exported, line losses included: each
    ///         fresh reading's injected energy (a meter's export, the grid meter's import)
    ///         times this (basis points) is credited to the grid's attested import.
    uint16 public gridLossAllowanceBp;
    /// @notice Energy injected (Wh) since the grid meter's registration, from fresh readings:
    ///         the allowance is credited on this running total, so no rounding accumulates.
    uint64 public gridInjectedWh;

    // --------------------------------------------------------------- events

    event OperatorChanged(address indexed previous, address indexed next);
    event OperatorTransferStarted(address indexed current, address indexed pending);
    event RegistrarChanged(address indexed next);
    event SettlerChanged(address indexed next);
    event MaxIntervalStepChanged(uint64 step);
    event ParticipantJoined(address indexed wallet, uint32 indexed index);
    event Deposited(address indexed wallet, uint256 amountWei, uint256 balanceWei);
    event Withdrawn(address indexed wallet, uint256 amountWei, uint256 balanceWei);
    event SurplusRecovered(address indexed to, uint256 amountWei);

    event MeterRegistered(
        bytes32 indexed meterId,
        address indexed owner,
        address signer,
        Attestation kind,
        uint32 ratedPowerW,
        string location
    );
    event GridMeterRegistered(bytes32 indexed meterId, uint16 lossAllowanceBp);
    event MeterRetired(bytes32 indexed meterId);
    event MeterHandedOver(bytes32 indexed meterId, address indexed from, address indexed to);
    event TariffSet(bytes32 indexed meterId, uint32 tariffWeiPerWh);
    event ReadingAccepted(bytes32 indexed meterId, uint32 seq, uint64 importWh, uint64 exportWh, uint64 timeS);
    event ReadingRejected(bytes32 indexed meterId, uint32 seq, uint8 reason);

    event SessionOpened(
        uint256 indexed sessionId,
        bytes32 indexed meterId,
        address indexed consumer,
        uint256 capWei,
        uint32 priceWeiPerWh,
        uint64 expiresAt
    );
    event SessionClosed(
        uint256 indexed sessionId,
        bytes32 indexed meterId,
        address indexed consumer,
        uint256 energyWh,
        uint256 billedWei,
        uint256 refundWei
    );

    /// @notice One byte per trade of the batch, in order: 0 settled, else a REJECT_* code.
    event TradesRejected(uint64 indexed intervalId, bytes reasons);
    /// @notice `journalDigest`: the bench journal's chained digest when the batch was sent
    ///         (its record of every interval before this one), committed with it.
    event IntervalSettled(
        uint64 indexed intervalId,
        bytes32 batchHash,
        uint256 settledTrades,
        uint256 rejectedTrades,
        uint256 valueWei,
        uint256 energyWh,
        bytes32 journalDigest
    );
    /// @notice The journal's digest through its last interval (`throughIntervalId`), which
    ///         no later settlement commits.
    event JournalCommitted(uint64 indexed throughIntervalId, bytes32 journalDigest);

    // --------------------------------------------------------------- errors

    error NotOperator(address caller);
    error NotPendingOperator(address caller);
    error NotRegistrar(address caller);
    error NotSettler(address caller);
    error ZeroAddress();
    error ZeroAmount();
    error NotAToken(address token);
    error NotParticipant(address wallet);
    error InsufficientBalance(address wallet, uint256 balanceWei, uint256 neededWei);
    error BalanceOverflow(address wallet);
    error TransferFailed();

    error ZeroMeterId();
    error BadMeterSpec(bytes32 meterId);
    error GridMeterExists(bytes32 meterId);
    error MeterExists(bytes32 meterId);
    error MeterNotActive(bytes32 meterId);
    error NotMeterOwner(bytes32 meterId, address caller);
    error StaleReading(bytes32 meterId, uint32 seq, uint32 lastSeq);
    error BadSignature(bytes32 meterId);
    error CounterWentBackwards(bytes32 meterId);
    error CounterTooFast(bytes32 meterId, uint32 ratedPowerW);
    error ReadingForOtherMeter(bytes32 expected, bytes32 given);

    error NoTariff(bytes32 meterId);
    error TariffAboveLimit(bytes32 meterId, uint32 tariffWeiPerWh, uint32 maxWeiPerWh);
    error MeterBusy(bytes32 meterId, uint256 sessionId);
    error BadSessionDuration(uint256 durationS);
    error SessionNotOpen(uint256 sessionId);
    error SessionNotExpired(uint256 sessionId, uint256 expiresAt);
    error NotSessionParty(uint256 sessionId, address caller);

    error InvalidInterval(uint64 intervalId, uint64 highestIntervalId, uint64 maxIntervalStep);
    error IntervalAlreadySettled(uint64 intervalId);
    error BadBatchLength(uint256 length);
    error BatchTooLarge(uint256 participants, uint256 trades);
    error ParticipantsNotSorted(uint256 position);
    error UnknownParticipant(uint256 index);
    error SlotOutOfRange(uint256 tradeIndex);

    // ------------------------------------------------------------ modifiers

    modifier onlyOperator() {
        if (msg.sender != operator) revert NotOperator(msg.sender);
        _;
    }

    modifier onlyRegistrar() {
        if (msg.sender != registrar) revert NotRegistrar(msg.sender);
        _;
    }

    constructor(IERC20 token_, uint64 maxIntervalStep_) {
        if (address(token_) == address(0)) revert ZeroAddress();
        if (address(token_).code.length == 0) revert NotAToken(address(token_));
        if (maxIntervalStep_ == 0) revert ZeroAmount();
        token = token_;
        operator = msg.sender;
        registrar = msg.sender;
        settler = msg.sender;
        maxIntervalStep = maxIntervalStep_;
        chainIdAtDeploy = block.chainid;
        domainSeparatorAtDeploy = _domainSeparator();
        emit OperatorChanged(address(0), msg.sender);
    }

    // ---------------------------------------------------------------- roles

    /// @notice Offer the operator role to `next`; it takes effect when `next` accepts.
    function transferOperator(address next) external onlyOperator {
        if (next == address(0)) revert ZeroAddress();
        pendingOperator = next;
        emit OperatorTransferStarted(operator, next);
    }

    /// @notice The pending operator takes the role.
    function acceptOperator() external {
        if (msg.sender != pendingOperator) revert NotPendingOperator(msg.sender);
        emit OperatorChanged(operator, msg.sender);
        operator = msg.sender;
        pendingOperator = address(0);
    }

    /// @notice The account that registers and retires meters.
    function setRegistrar(address next) external onlyOperator {
        if (next == address(0)) revert ZeroAddress();
        registrar = next;
        emit RegistrarChanged(next);
    }

    /// @notice The account that submits settlement batches.
    function setSettler(address next) external onlyOperator {
        if (next == address(0)) revert ZeroAddress();
        settler = next;
        emit SettlerChanged(next);
    }

    function setMaxIntervalStep(uint64 step) external onlyOperator {
        if (step == 0) revert ZeroAmount();
        maxIntervalStep = step;
        emit MaxIntervalStepChanged(step);
    }

    /// @notice Send the tokens held above Σ balances + escrow (direct transfers) to `to`.
    function recoverSurplus(address to) external onlyOperator returns (uint256 amountWei) {
        if (to == address(0)) revert ZeroAddress();
        amountWei = token.balanceOf(address(this)) - totalBalancesWei - totalSessionDepositsWei;
        if (amountWei == 0) revert ZeroAmount();
        _safeTransfer(to, amountWei);
        emit SurplusRecovered(to, amountWei);
    }

    // ------------------------------------------------------ prepaid wallets

    /// @notice Join the market without a deposit; returns the participant index.
    function join() external returns (uint32) {
        return _indexOrJoin(msg.sender);
    }

    /// @notice Move `amountWei` tokens from the caller's wallet into its prepaid balance;
    ///         what arrives is credited (a fee-on-transfer token credits less).
    function deposit(uint256 amountWei) external {
        if (amountWei == 0) revert ZeroAmount();
        uint32 idx = _indexOrJoin(msg.sender);
        uint256 before = token.balanceOf(address(this));
        _call(abi.encodeCall(IERC20.transferFrom, (msg.sender, address(this), amountWei)));
        uint256 received = token.balanceOf(address(this)) - before;
        if (received == 0) revert ZeroAmount();
        uint256 balance = _balance(idx) + received;
        _setBalance(idx, msg.sender, balance);
        totalBalancesWei += received;
        emit Deposited(msg.sender, received, balance);
    }

    /// @notice Pull `amountWei` from the caller's prepaid balance back to its wallet.
    function withdraw(uint256 amountWei) external {
        if (amountWei == 0) revert ZeroAmount();
        uint32 idx = participantIndex[msg.sender];
        if (idx == 0) revert NotParticipant(msg.sender);
        uint256 balance = _balance(idx);
        if (balance < amountWei) revert InsufficientBalance(msg.sender, balance, amountWei);
        unchecked {
            balance -= amountWei;
            totalBalancesWei -= amountWei;
        }
        _setBalance(idx, msg.sender, balance);
        _safeTransfer(msg.sender, amountWei);
        emit Withdrawn(msg.sender, amountWei, balance);
    }

    /// @notice Prepaid balance of `wallet` in wei (0 if it never joined).
    function balanceOf(address wallet) external view returns (uint256) {
        uint32 idx = participantIndex[wallet];
        return idx == 0 ? 0 : _balance(idx);
    }

    /// @notice Wallet and prepaid balance of participant `index`.
    function account(uint256 index) external view returns (address wallet, uint256 balanceWei) {
        uint256 word = accounts[index];
        return (_wallet(word), word >> 160);
    }

    /// @notice Cumulative energy of `wallet`: settled bought and sold, and the import and
    ///         export its meters attested since their registration (Wh).
    function energyOf(address wallet)
        external
        view
        returns (uint64 boughtWh, uint64 soldWh, uint64 attestedImportWh, uint64 attestedExportWh)
    {
        uint256 word = energy[participantIndex[wallet]];
        return (uint64(word), uint64(word >> 64), uint64(word >> 128), uint64(word >> 192));
    }

    // -------------------------------------------------------- meter registry

    /// @notice Register meter `meterId` owned by `owner`, whose readings `signer` signs
    ///         (the meter itself, or the bench as its attestor), with its commissioning
    ///         reading as the baseline: energy before it is never attested.
    function registerMeter(
        bytes32 meterId,
        address owner,
        address signer,
        Attestation kind,
        uint32 ratedPowerW,
        string calldata location,
        SignedCounters calldata commissioning
    ) external onlyRegistrar {
        _register(meterId, owner, signer, kind, ratedPowerW, location, commissioning);
    }

    /// @notice Register the meter at the grid connection (at most one per market), owned by
    ///         the city grid's wallet: its import backs the grid's sales, its export plus
    ///         `lossAllowanceBp` of all injected energy (every meter's export and its own
    ///         import, from fresh readings) the grid's purchases.
    function registerGridMeter(
        bytes32 meterId,
        address owner,
        address signer,
        Attestation kind,
        uint32 ratedPowerW,
        uint16 lossAllowanceBp,
        string calldata location,
        SignedCounters calldata commissioning
    ) external onlyRegistrar {
        if (gridMeterId != bytes32(0)) revert GridMeterExists(gridMeterId);
        if (lossAllowanceBp > MAX_LOSS_ALLOWANCE_BP) revert BadMeterSpec(meterId);
        gridMeterId = meterId;
        gridLossAllowanceBp = lossAllowanceBp;
        _register(meterId, owner, signer, kind, ratedPowerW, location, commissioning);
        emit GridMeterRegistered(meterId, lossAllowanceBp);
    }

    function _register(
        bytes32 meterId,
        address owner,
        address signer,
        Attestation kind,
        uint32 ratedPowerW,
        string calldata location,
        SignedCounters calldata commissioning
    ) private {
        if (owner == address(0) || signer == address(0)) revert ZeroAddress();
        if (meterId == bytes32(0)) revert ZeroMeterId();
        if (kind == Attestation.None || ratedPowerW == 0) revert BadMeterSpec(meterId);
        if (commissioning.meterId != meterId) revert ReadingForOtherMeter(meterId, commissioning.meterId);
        Meter storage m = meters[meterId];
        if (m.status != MeterStatus.None) revert MeterExists(meterId);
        if (!_signedBy(commissioning, signer)) revert BadSignature(meterId);
        m.signer = signer;
        m.ownerIndex = _indexOrJoin(owner);
        m.ratedPowerW = ratedPowerW;
        m.status = MeterStatus.Active;
        m.kind = kind;
        _record(m, commissioning, true);
        meterLocation[meterId] = location;
        emit MeterRegistered(meterId, owner, signer, kind, ratedPowerW, location);
    }

    /// @notice Retire a meter for good. An expired session on it is closed first, billed
    ///         at the last recorded counter; a running one makes the meter busy.
    function retireMeter(bytes32 meterId) external onlyRegistrar {
        Meter storage m = meters[meterId];
        if (m.status != MeterStatus.Active) revert MeterNotActive(meterId);
        uint256 sessionId = activeSession[meterId];
        if (sessionId != 0) {
            if (block.timestamp < sessions[sessionId].expiresAt) revert MeterBusy(meterId, sessionId);
            _closeSession(sessionId);
        }
        m.status = MeterStatus.Retired;
        emit MeterRetired(meterId);
    }

    /// @notice The meter's owner hands it over to `to`; later attested energy is `to`'s.
    function handOverMeter(bytes32 meterId, address to) external {
        Meter storage m = _ownedActiveMeter(meterId);
        if (to == address(0)) revert ZeroAddress();
        emit MeterHandedOver(meterId, msg.sender, to);
        m.ownerIndex = _indexOrJoin(to);
    }

    /// @notice The owner's price for supply sessions on this meter (0 closes it to sessions).
    function setTariff(bytes32 meterId, uint32 priceWeiPerWh) external {
        _ownedActiveMeter(meterId);
        tariffWeiPerWh[meterId] = priceWeiPerWh;
        emit TariffSet(meterId, priceWeiPerWh);
    }

    /// @notice The wallet that owns meter `meterId` (zero if unregistered).
    function meterOwner(bytes32 meterId) public view returns (address) {
        return _wallet(accounts[meters[meterId].ownerIndex]);
    }

    /// @notice Record a signed reading; anyone may relay one. A copy of the newest recorded
    ///         reading is accepted again and changes nothing.
    function submitReading(SignedCounters calldata r) external {
        _requireFresh(r);
    }

    /// @notice EIP-712 domain separator of this contract on the current chain.
    function domainSeparator() public view returns (bytes32) {
        return block.chainid == chainIdAtDeploy ? domainSeparatorAtDeploy : _domainSeparator();
    }

    /// @notice EIP-712 digest a participant signs for its order of an interval: its bid and
    ///         its offer together (energy 0 on a side: no order on it).
    function orderDigest(
        address participant,
        uint64 intervalId,
        uint64 bidEnergyWh,
        uint64 bidLimitPriceWeiPerWh,
        uint64 offerEnergyWh,
        uint64 offerLimitPriceWeiPerWh
    ) public view returns (bytes32) {
        bytes32 structHash = keccak256(
            abi.encode(
                ORDER_TYPEHASH,
                participant,
                intervalId,
                bidEnergyWh,
                bidLimitPriceWeiPerWh,
                offerEnergyWh,
                offerLimitPriceWeiPerWh
            )
        );
        return keccak256(abi.encodePacked("\x19\x01", domainSeparator(), structHash));
    }

    /// @notice SHA-256 digest a meter signs over its counters (bench/attestation.py).
    function readingDigest(bytes32 meterId, uint32 seq, uint64 importWh, uint64 exportWh, uint64 timeS)
        public
        pure
        returns (bytes32)
    {
        return sha256(abi.encodePacked(bytes4("GBR1"), meterId, seq, importWh, exportWh, timeS));
    }

    // ------------------------------------------------------- supply sessions

    /// @notice Open a supply session on a meter, escrowing up to `capWei` of the caller's
    ///         prepaid balance. `current` (at least as new as the newest recorded reading)
    ///         is the start counter; after `durationS` anyone may close the session.
    function openSession(
        bytes32 meterId,
        uint256 capWei,
        uint32 maxPriceWeiPerWh,
        uint64 durationS,
        SignedCounters calldata current
    ) external returns (uint256 sessionId) {
        Meter storage m = meters[meterId];
        if (m.status != MeterStatus.Active) revert MeterNotActive(meterId);
        uint32 tariff = tariffWeiPerWh[meterId];
        if (tariff == 0) revert NoTariff(meterId);
        if (tariff > maxPriceWeiPerWh) revert TariffAboveLimit(meterId, tariff, maxPriceWeiPerWh);
        if (activeSession[meterId] != 0) revert MeterBusy(meterId, activeSession[meterId]);
        if (capWei == 0) revert ZeroAmount();
        if (durationS == 0 || durationS > MAX_SESSION_S) revert BadSessionDuration(durationS);
        if (current.meterId != meterId) revert ReadingForOtherMeter(meterId, current.meterId);
        uint32 idx = participantIndex[msg.sender];
        if (idx == 0) revert NotParticipant(msg.sender);
        uint256 balance = _balance(idx);
        if (balance < capWei) revert InsufficientBalance(msg.sender, balance, capWei);
        _requireFresh(current);
        unchecked {
            _setBalance(idx, msg.sender, balance - capWei);
            totalBalancesWei -= capWei;
        }
        sessionId = ++sessionCount;
        uint64 expiresAt = uint64(block.timestamp) + durationS;
        sessions[sessionId] = Session({
            consumer: msg.sender,
            // forge-lint: disable-next-line(unsafe-typecast) capWei <= balance < 2**96
            depositWei: uint96(capWei),
            meterId: meterId,
            startImportWh: m.importWh,
            expiresAt: expiresAt,
            priceWeiPerWh: tariff,
            open: true
        });
        activeSession[meterId] = sessionId;
        totalSessionDepositsWei += capWei;
        emit SessionOpened(sessionId, meterId, msg.sender, capWei, tariff, expiresAt);
    }

    /// @notice A party (consumer, meter owner, operator) closes a session with a reading at
    ///         least as new as the newest recorded: the metered import (at most the cap) is
    ///         paid to the meter's owner and the rest refunded.
    function closeSession(uint256 sessionId, SignedCounters calldata r) external {
        Session storage s = sessions[sessionId];
        if (!s.open) revert SessionNotOpen(sessionId);
        bytes32 meterId = s.meterId;
        if (msg.sender != s.consumer && msg.sender != meterOwner(meterId) && msg.sender != operator) {
            revert NotSessionParty(sessionId, msg.sender);
        }
        if (r.meterId != meterId) revert ReadingForOtherMeter(meterId, r.meterId);
        _requireFresh(r);
        _closeSession(sessionId);
    }

    /// @notice Anyone closes an expired session at the meter's last recorded counter.
    function closeExpiredSession(uint256 sessionId) external {
        Session storage s = sessions[sessionId];
        if (!s.open) revert SessionNotOpen(sessionId);
        if (block.timestamp < s.expiresAt) revert SessionNotExpired(sessionId, s.expiresAt);
        _closeSession(sessionId);
    }

    // ------------------------------------------------------ batch settlement

    /// @notice Settle interval `intervalId` once. `batch` packs one record per participant
    ///         (sorted index, its signed bid and offer for this interval) and the trades;
    ///         `readings` are signed counters recorded first; `journalDigest` (the bench
    ///         journal's chained digest, zero for none) is committed in IntervalSettled. A trade settles only if the
    ///         buyer's bid and the seller's offer cover it (price within both limits, each
    ///         party's total within its signed energy), the energy is backed by the parties'
    ///         attested meter counters (cumulative) and the buyer can pay; every other trade
    ///         is rejected with its reason in the one TradesRejected event.
    function settle(uint64 intervalId, bytes calldata batch, SignedCounters[] calldata readings, bytes32 journalDigest)
        external
    {
        if (msg.sender != settler) revert NotSettler(msg.sender);
        uint64 highest = highestIntervalId;
        if (intervalId == 0 || intervalId > highest + maxIntervalStep) {
            revert InvalidInterval(intervalId, highest, maxIntervalStep);
        }
        if (batchHash[intervalId] != 0) revert IntervalAlreadySettled(intervalId);
        (uint256 k, uint256 n) = _batchShape(batch);

        (uint256[] memory ledger, uint256[] memory energyWords) = _loadParticipants(batch, k);
        _applyReadings(batch, energyWords, readings);
        uint256[] memory caps = _applyOrders(intervalId, batch, ledger, energyWords);

        (uint256 settled, uint256 valueWei, uint256 energyWh, bytes memory reasons) =
            _applyTrades(batch, 2 + RECORD_BYTES * k, n, ledger);
        if (settled != n) emit TradesRejected(intervalId, reasons);

        _storeParticipants(batch, ledger, energyWords, caps);
        bytes32 h = keccak256(batch);
        batchHash[intervalId] = h;
        if (intervalId > highest) highestIntervalId = intervalId;
        unchecked {
            ++settledIntervalCount;
        }
        emit IntervalSettled(intervalId, h, settled, n - settled, valueWei, energyWh, journalDigest);
    }

    /// @notice Commit the journal's digest through interval `throughIntervalId` (settled),
    ///         the record no later settlement carries: the run's last interval.
    function commitJournal(uint64 throughIntervalId, bytes32 journalDigest) external {
        if (msg.sender != settler) revert NotSettler(msg.sender);
        if (batchHash[throughIntervalId] == 0) {
            revert InvalidInterval(throughIntervalId, highestIntervalId, maxIntervalStep);
        }
        emit JournalCommitted(throughIntervalId, journalDigest);
    }

    /// @notice True once interval `intervalId` has been settled.
    function isSettled(uint64 intervalId) external view returns (bool) {
        return batchHash[intervalId] != 0;
    }

    // ------------------------------------------------------ settle internals

    function _batchShape(bytes calldata batch) private pure returns (uint256 k, uint256 n) {
        if (batch.length < 2) revert BadBatchLength(batch.length);
        k = uint16(bytes2(batch[0:2]));
        uint256 head = 2 + RECORD_BYTES * k;
        if (batch.length < head || (batch.length - head) % 12 != 0) {
            revert BadBatchLength(batch.length);
        }
        n = (batch.length - head) / 12;
        if (k > MAX_BATCH_PARTICIPANTS || n > MAX_BATCH_TRADES) revert BatchTooLarge(k, n);
    }

    /// @dev `width` bytes (<= 32) of calldata at `offset`, as an unsigned integer.
    function _read(bytes calldata batch, uint256 offset, uint256 width) private pure returns (uint256 x) {
        assembly {
            x := shr(sub(256, shl(3, width)), calldataload(add(batch.offset, offset)))
        }
    }

    function _participantAt(bytes calldata batch, uint256 slot) private pure returns (uint256) {
        return _read(batch, 2 + RECORD_BYTES * slot, 4);
    }

    function _loadParticipants(bytes calldata batch, uint256 k)
        private
        view
        returns (uint256[] memory ledger, uint256[] memory energyWords)
    {
        ledger = new uint256[](k);
        energyWords = new uint256[](k);
        uint256 previous;
        uint256 count = participantCount;
        for (uint256 i; i < k; ++i) {
            uint256 idx = _participantAt(batch, i);
            if (idx <= previous) revert ParticipantsNotSorted(i);
            if (idx > count) revert UnknownParticipant(idx);
            previous = idx;
            ledger[i] = accounts[idx] >> 160;
            energyWords[i] = energy[idx];
        }
    }

    /// @dev Records each fresh reading and credits its counters' rise to the meter's owner
    ///      (in memory when the owner is in the batch). Others are reported, never fatal.
    function _applyReadings(bytes calldata batch, uint256[] memory energyWords, SignedCounters[] calldata readings)
        private
    {
        bytes32 gridMeter = gridMeterId;
        uint256 injectedWh;
        for (uint256 i; i < readings.length; ++i) {
            SignedCounters calldata r = readings[i];
            (uint8 code, uint256 owner, uint256 credit, uint256 injected) = _accept(r, gridMeter, false);
            if (code == READING_OK) {
                _credit(batch, energyWords, owner, credit);
                injectedWh += injected;
            } else if (code != READING_ALREADY_RECORDED) {
                emit ReadingRejected(r.meterId, r.seq, code);
            }
        }
        (uint256 gridOwner, uint256 lossCredit) = _lossCredit(gridMeter, injectedWh);
        if (lossCredit != 0) _credit(batch, energyWords, gridOwner, lossCredit);
    }

    /// @dev Add an energy-word credit to participant `owner`: in memory when it is in the
    ///      batch, else in storage.
    function _credit(bytes calldata batch, uint256[] memory energyWords, uint256 owner, uint256 credit) private {
        uint256 slot = _slotOf(batch, energyWords.length, owner);
        if (slot < energyWords.length) energyWords[slot] += credit;
        else energy[owner] += credit;
    }

    /// @dev (grid owner, attested-import credit) for `injectedWh` of fresh injected energy:
    ///      the rise of the allowance on the running total (rounded down once, not per
    ///      reading); (0, 0) without an active grid meter.
    function _lossCredit(bytes32 gridMeter, uint256 injectedWh) private returns (uint256, uint256) {
        if (gridMeter == bytes32(0) || injectedWh == 0) return (0, 0);
        Meter storage g = meters[gridMeter];
        if (g.status != MeterStatus.Active) return (0, 0);
        uint256 bp = gridLossAllowanceBp;
        uint256 before = gridInjectedWh;
        uint256 total = before + injectedWh; // each rise is rated-power bounded: far below 2**64
        // forge-lint: disable-next-line(unsafe-typecast) see above
        gridInjectedWh = uint64(total);
        return (g.ownerIndex, ((total * bp) / 10_000 - (before * bp) / 10_000) << 128);
    }

    /// @dev Binary search of participant `idx` among the batch's sorted indices (k if absent).
    function _slotOf(bytes calldata batch, uint256 k, uint256 idx) private pure returns (uint256) {
        uint256 lo;
        uint256 hi = k;
        while (lo < hi) {
            uint256 mid = (lo + hi) >> 1;
            uint256 got = _participantAt(batch, mid);
            if (got == idx) return mid;
            if (got < idx) lo = mid + 1;
            else hi = mid;
        }
        return k;
    }

    /// @dev Verifies each slot's signed order (bid and offer, one signature) and packs into
    ///      its ledger word: balance [0,104) | buy cap [104,136) | sell cap [136,168) | bid
    ///      limit [168,200) | offer limit [200,232) | flags. A cap is min(signed energy,
    ///      attested energy not yet traded). Returns the initial caps (buy | sell << 32).
    function _applyOrders(
        uint64 intervalId,
        bytes calldata batch,
        uint256[] memory ledger,
        uint256[] memory energyWords
    ) private view returns (uint256[] memory caps) {
        uint256 k = ledger.length;
        caps = new uint256[](k);
        bytes32 domain = domainSeparator();
        for (uint256 i; i < k; ++i) {
            uint256 pos = 2 + RECORD_BYTES * i;
            uint256 sides = _read(batch, pos + 4, 16); // bidWh | bidLimit | offerWh | offerLimit
            uint256 bidWh = sides >> 96;
            uint256 offerWh = (sides >> 32) & U32;
            if (bidWh | offerWh == 0) continue;
            address wallet = _wallet(accounts[_read(batch, pos, 4)]);
            if (!_orderSigned(domain, wallet, intervalId, sides, batch, pos + 20)) continue;
            uint256 e = energyWords[i];
            (uint256 buyCap, uint256 bidFlags) = _cap(bidWh, (e >> 128) & 2 ** 64 - 1, e & 2 ** 64 - 1);
            (uint256 sellCap, uint256 offerFlags) = _cap(offerWh, e >> 192, (e >> 64) & 2 ** 64 - 1);
            uint256 limits = (((sides >> 64) & U32) << 168) | ((sides & U32) << 200);
            ledger[i] = ledger[i] | (buyCap << 104) | (sellCap << 136) | limits | bidFlags | (offerFlags << 1);
            caps[i] = buyCap | (sellCap << 32);
        }
    }

    /// @dev One side's cap: (min(signed, attested - traded), HAS_BID [| BID_METER_BOUND]),
    ///      or zeros when nothing is signed on that side.
    function _cap(uint256 signedWh, uint256 attestedWh, uint256 tradedWh)
        private
        pure
        returns (uint256 cap, uint256 flags)
    {
        if (signedWh == 0) return (0, 0);
        uint256 meterWh = attestedWh > tradedWh ? attestedWh - tradedWh : 0;
        if (meterWh < signedWh) return (meterWh, HAS_BID | BID_METER_BOUND);
        return (signedWh, HAS_BID);
    }

    /// @dev True if the signature (r, s, v at `pos`) over the order `sides` (u32 bid Wh,
    ///      bid limit, offer Wh, offer limit) is `wallet`'s, with low s.
    function _orderSigned(
        bytes32 domain,
        address wallet,
        uint64 intervalId,
        uint256 sides,
        bytes calldata batch,
        uint256 pos
    ) private view returns (bool) {
        address signer;
        bytes32 typehash = ORDER_TYPEHASH;
        // orderDigest() and ecrecover, in unallocated memory (inputs cleaned: stack values
        // may carry dirty high bits in assembly).
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore(p, typehash)
            mstore(add(p, 0x20), and(wallet, 0xffffffffffffffffffffffffffffffffffffffff))
            mstore(add(p, 0x40), and(intervalId, 0xffffffffffffffff))
            mstore(add(p, 0x60), shr(96, sides))
            mstore(add(p, 0x80), and(shr(64, sides), 0xffffffff))
            mstore(add(p, 0xa0), and(shr(32, sides), 0xffffffff))
            mstore(add(p, 0xc0), and(sides, 0xffffffff))
            let structHash := keccak256(p, 0xe0)
            mstore(p, 0x1901000000000000000000000000000000000000000000000000000000000000)
            mstore(add(p, 0x02), domain)
            mstore(add(p, 0x22), structHash)
            let digest := keccak256(p, 0x42)
            let cd := add(batch.offset, pos)
            let s := calldataload(add(cd, 32))
            if iszero(gt(s, HALF_ORDER)) {
                mstore(p, digest)
                mstore(add(p, 0x20), shr(248, calldataload(add(cd, 64))))
                mstore(add(p, 0x40), calldataload(cd))
                mstore(add(p, 0x60), s)
                mstore(0x00, 0)
                if staticcall(gas(), 1, p, 0x80, 0x00, 0x20) { signer := mload(0x00) }
            }
        }
        return signer == wallet && wallet != address(0);
    }

    /// @dev One pass over the packed trades: u16 buyer slot, u16 seller slot, u32 energy
    ///      Wh, u32 price wei/Wh (12 bytes each), netted in `ledger`. `reasons[t]` is 0
    ///      for a settled trade, else the REJECT_* code.
    function _applyTrades(bytes calldata batch, uint256 start, uint256 n, uint256[] memory ledger)
        private
        pure
        returns (uint256 settled, uint256 valueWei, uint256 energyWh, bytes memory reasons)
    {
        uint256 k = ledger.length;
        reasons = new bytes(n);
        bytes4 outOfRange = SlotOutOfRange.selector;
        // The loop in assembly: it is most of settle's gas. Checks in order (codes as the
        // REJECT_* constants): self trade 3, no order 2, price 4, buyer's cap 5/6, seller's
        // cap 5/6 (6 when the meter bound binds), balance 1. Caps only shrink (checked);
        // a balance stays below 2**96 + n * 2**64 < 2**104.
        assembly ("memory-safe") {
            let base := add(batch.offset, start)
            let led := add(ledger, 32)
            let out := add(reasons, 32)
            for { let t := 0 } lt(t, n) { t := add(t, 1) } {
                let word := calldataload(add(base, mul(t, 12)))
                let buyer := shr(240, word)
                let seller := and(shr(224, word), 0xffff)
                if iszero(and(lt(buyer, k), lt(seller, k))) {
                    mstore(0, outOfRange)
                    mstore(4, t)
                    revert(0, 36)
                }
                let wh := and(shr(192, word), 0xffffffff)
                let price := and(shr(160, word), 0xffffffff)
                let pb := add(led, shl(5, buyer))
                let ps := add(led, shl(5, seller))
                let b := mload(pb)
                let s := mload(ps)
                let value := mul(wh, price)
                let reason := 0
                if eq(buyer, seller) { reason := 3 }
                if iszero(reason) {
                    if or(iszero(and(b, shl(232, 1))), iszero(and(s, shl(233, 1)))) { reason := 2 }
                }
                if iszero(reason) {
                    if or(gt(price, and(shr(168, b), 0xffffffff)), lt(price, and(shr(200, s), 0xffffffff))) {
                        reason := 4
                    }
                }
                if iszero(reason) {
                    if gt(wh, and(shr(104, b), 0xffffffff)) {
                        reason := add(5, iszero(iszero(and(b, shl(234, 1)))))
                    }
                }
                if iszero(reason) {
                    if gt(wh, and(shr(136, s), 0xffffffff)) {
                        reason := add(5, iszero(iszero(and(s, shl(235, 1)))))
                    }
                }
                if iszero(reason) {
                    if lt(and(b, sub(shl(104, 1), 1)), value) { reason := 1 }
                }
                switch reason
                case 0 {
                    mstore(pb, sub(b, add(value, shl(104, wh))))
                    mstore(ps, sub(add(s, value), shl(136, wh)))
                    valueWei := add(valueWei, value)
                    energyWh := add(energyWh, wh)
                    settled := add(settled, 1)
                }
                default { mstore8(add(out, t), reason) }
            }
        }
    }

    function _storeParticipants(
        bytes calldata batch,
        uint256[] memory ledger,
        uint256[] memory energyWords,
        uint256[] memory caps
    ) private {
        for (uint256 i; i < ledger.length; ++i) {
            uint256 idx = _participantAt(batch, i);
            uint256 word = accounts[idx];
            uint256 l = ledger[i];
            uint256 balance = l & BALANCE_MASK;
            if (balance != word >> 160) _setBalance(idx, _wallet(word), balance);
            uint256 boughtWh = (caps[i] & U32) - ((l >> 104) & U32);
            uint256 soldWh = (caps[i] >> 32) - ((l >> 136) & U32);
            // Bought and sold stay below the attested u64 totals they are capped by.
            uint256 e = energyWords[i] + boughtWh + (soldWh << 64);
            if (e != energy[idx]) energy[idx] = e;
        }
    }

    // ------------------------------------------------------- other internals

    /// @dev Checks reading `r` against its meter and records it when fresh. Returns the
    ///      READING_* code, the owner's index, the rise of its counters as an energy word
    ///      credit (import << 128 | export << 192; reversed for the grid meter `gridMeter`)
    ///      and the energy it injected (its export; the grid meter's import).
    function _accept(SignedCounters calldata r, bytes32 gridMeter, bool announce)
        private
        returns (uint8 code, uint256 owner, uint256 credit, uint256 injectedWh)
    {
        Meter storage m = meters[r.meterId];
        if (m.status != MeterStatus.Active) return (READING_UNKNOWN_METER, 0, 0, 0);
        uint256 lastSeq = m.seq;
        uint256 lastTime = m.timeS;
        uint256 lastImport = m.importWh;
        uint256 lastExport = m.exportWh;
        if (r.seq == lastSeq && r.timeS == lastTime && r.importWh == lastImport && r.exportWh == lastExport) {
            return (READING_ALREADY_RECORDED, 0, 0, 0);
        }
        if (r.seq <= lastSeq || r.timeS < lastTime) return (READING_STALE, 0, 0, 0);
        if (r.importWh < lastImport || r.exportWh < lastExport) return (READING_COUNTER_BACKWARDS, 0, 0, 0);
        uint256 dImport = r.importWh - lastImport;
        uint256 dExport = r.exportWh - lastExport;
        uint256 allowed = uint256(m.ratedPowerW) * (r.timeS - lastTime);
        if (_tooFast(dImport, allowed) || _tooFast(dExport, allowed)) return (READING_TOO_FAST, 0, 0, 0);
        if (!_signedBy(r, m.signer)) return (READING_BAD_SIGNATURE, 0, 0, 0);
        _record(m, r, announce);
        if (r.meterId == gridMeter) return (READING_OK, m.ownerIndex, (dExport << 128) | (dImport << 192), dImport);
        return (READING_OK, m.ownerIndex, (dImport << 128) | (dExport << 192), dExport);
    }

    /// @dev Whole-Wh counters of a meter drawing at most P watts over dt seconds rise by
    ///      d with (d - 1) * 3600 < P * dt (floor rounding), or not at all.
    function _tooFast(uint256 dWh, uint256 wattSeconds) private pure returns (bool) {
        return dWh != 0 && (dWh - 1) * 3600 >= wattSeconds;
    }

    /// @dev Accept a fresh reading or a copy of the newest one; revert on anything else.
    function _requireFresh(SignedCounters calldata r) private {
        bytes32 gridMeter = gridMeterId;
        (uint8 code, uint256 owner, uint256 credit, uint256 injectedWh) = _accept(r, gridMeter, true);
        if (code == READING_OK) {
            energy[owner] += credit;
            (uint256 gridOwner, uint256 lossCredit) = _lossCredit(gridMeter, injectedWh);
            if (lossCredit != 0) energy[gridOwner] += lossCredit;
            return;
        }
        if (code == READING_ALREADY_RECORDED) return;
        if (code == READING_UNKNOWN_METER) revert MeterNotActive(r.meterId);
        if (code == READING_STALE) revert StaleReading(r.meterId, r.seq, meters[r.meterId].seq);
        if (code == READING_COUNTER_BACKWARDS) revert CounterWentBackwards(r.meterId);
        if (code == READING_TOO_FAST) revert CounterTooFast(r.meterId, meters[r.meterId].ratedPowerW);
        revert BadSignature(r.meterId);
    }

    /// @dev sha256 of the 64-byte reading message and ecrecover, in unallocated memory.
    function _signedBy(SignedCounters calldata r, address signer) private view returns (bool ok) {
        assembly ("memory-safe") {
            let p := mload(0x40)
            // "GBR1" | meterId | seq u32 | importWh u64 | exportWh u64 | timeS u64
            mstore(p, 0x4742523100000000000000000000000000000000000000000000000000000000)
            mstore(add(p, 4), calldataload(r))
            mstore(add(p, 36), shl(224, calldataload(add(r, 0x20))))
            mstore(add(p, 40), shl(192, calldataload(add(r, 0x40))))
            mstore(add(p, 48), shl(192, calldataload(add(r, 0x60))))
            mstore(add(p, 56), shl(192, calldataload(add(r, 0x80))))
            let s := calldataload(add(r, 0xe0))
            if and(iszero(gt(s, HALF_ORDER)), staticcall(gas(), 2, p, 64, 0x00, 0x20)) {
                mstore(p, mload(0x00))
                mstore(add(p, 0x20), calldataload(add(r, 0xa0)))
                mstore(add(p, 0x40), calldataload(add(r, 0xc0)))
                mstore(add(p, 0x60), s)
                mstore(0x00, 0)
                if staticcall(gas(), 1, p, 0x80, 0x00, 0x20) {
                    let got := mload(0x00)
                    ok := and(iszero(iszero(got)), eq(got, and(signer, 0xffffffffffffffffffffffffffffffffffffffff)))
                }
            }
        }
    }

    /// @dev Settle records its readings silently: they are in its calldata, and each one
    ///      not named by a ReadingRejected event was recorded (or already was).
    function _record(Meter storage m, SignedCounters calldata r, bool announce) private {
        m.seq = r.seq;
        m.timeS = r.timeS;
        m.importWh = r.importWh;
        m.exportWh = r.exportWh;
        if (announce) emit ReadingAccepted(r.meterId, r.seq, r.importWh, r.exportWh, r.timeS);
    }

    function _closeSession(uint256 sessionId) private {
        Session storage s = sessions[sessionId];
        bytes32 meterId = s.meterId;
        Meter storage m = meters[meterId];
        address owner = _wallet(accounts[m.ownerIndex]);
        address consumer = s.consumer;
        uint256 energyWh = m.importWh - s.startImportWh;
        uint256 depositWei = s.depositWei;
        uint256 costWei = energyWh * s.priceWeiPerWh;
        uint256 billedWei = costWei < depositWei ? costWei : depositWei;
        uint256 refundWei = depositWei - billedWei;
        s.open = false;
        s.depositWei = 0;
        activeSession[meterId] = 0;
        totalSessionDepositsWei -= depositWei;
        totalBalancesWei += depositWei;
        uint32 ownerIdx = m.ownerIndex;
        _setBalance(ownerIdx, owner, _balance(ownerIdx) + billedWei);
        uint32 consumerIdx = participantIndex[consumer];
        _setBalance(consumerIdx, consumer, _balance(consumerIdx) + refundWei);
        emit SessionClosed(sessionId, meterId, consumer, energyWh, billedWei, refundWei);
    }

    function _indexOrJoin(address wallet) private returns (uint32 idx) {
        idx = participantIndex[wallet];
        if (idx == 0) {
            idx = ++participantCount;
            participantIndex[wallet] = idx;
            accounts[idx] = uint160(wallet);
            emit ParticipantJoined(wallet, idx);
        }
    }

    /// @dev The low 160 bits of an account word are the wallet.
    function _wallet(uint256 word) private pure returns (address) {
        // forge-lint: disable-next-line(unsafe-typecast) deliberate truncation to 160 bits
        return address(uint160(word));
    }

    function _balance(uint256 idx) private view returns (uint256) {
        return accounts[idx] >> 160;
    }

    function _setBalance(uint256 idx, address wallet, uint256 balance) private {
        if (balance > type(uint96).max) revert BalanceOverflow(wallet);
        accounts[idx] = (balance << 160) | uint160(wallet);
    }

    function _ownedActiveMeter(bytes32 meterId) private view returns (Meter storage m) {
        m = meters[meterId];
        if (m.status != MeterStatus.Active) revert MeterNotActive(meterId);
        if (meterOwner(meterId) != msg.sender) revert NotMeterOwner(meterId, msg.sender);
    }

    /// @dev A token call that succeeds with no return data or with `true` (no-return tokens).
    function _call(bytes memory data) private {
        (bool ok, bytes memory ret) = address(token).call(data);
        if (!ok || (ret.length != 0 && (ret.length != 32 || abi.decode(ret, (uint256)) != 1))) {
            revert TransferFailed();
        }
    }

    function _safeTransfer(address to, uint256 amountWei) private {
        _call(abi.encodeCall(IERC20.transfer, (to, amountWei)));
    }

    function _domainSeparator() private view returns (bytes32) {
        return
            keccak256(
                abi.encode(DOMAIN_TYPEHASH, keccak256("GridMarket"), keccak256("3"), block.chainid, address(this))
            );
    }
}
