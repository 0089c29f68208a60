// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {IERC20} from "./IERC20.sol";

/// @title GridMarket: prepaid escrow, meter registry, supply sessions and exactly-once
///        batch settlement of a microgrid's cleared energy trades.
/// @notice Money is a 6-decimal ERC-20 (LabCredit); "wei" means its smallest unit.
///         Energy is integer Wh, prices integer wei per Wh. See docs/chain.md for the
///         storage layout and the packed batch encoding.
contract GridMarket {
    // ---------------------------------------------------------------- types

    enum MeterStatus {
        None,
        Active,
        Retired
    }

    /// @dev slot 0: owner | status | tariff | lastTimestamp;
    ///      slot 1: attestor | lastIntervalId | lastEnergyWh.
    struct Meter {
        address owner;
        MeterStatus status;
        uint32 tariffWeiPerWh;
        uint56 lastTimestamp;
        address attestor;
        uint48 lastIntervalId;
        uint48 lastEnergyWh;
    }

    /// @notice An EIP-712 typed meter reading plus its signature by the meter's attestor.
    struct SignedReading {
        bytes32 meterId;
        uint64 intervalId;
        uint64 energyWh;
        uint64 timestamp;
        uint8 v;
        bytes32 r;
        bytes32 s;
    }

    struct Session {
        address consumer;
        uint96 depositWei;
        bytes32 meterId;
        uint48 startEnergyWh;
        uint32 priceWeiPerWh;
        bool open;
    }

    // ------------------------------------------------------------ constants

    /// @notice Largest batch accepted by settle (trades, participants); see docs/chain.md.
    uint256 public constant MAX_BATCH_TRADES = 8192;
    uint256 public constant MAX_BATCH_PARTICIPANTS = 256;

    /// @notice insufficient balance
    uint8 public constant REJECT_INSUFFICIENT_BALANCE = 1;
    /// @notice no verified meter reading
    uint8 public constant REJECT_NO_READING = 2;
    /// @notice self trade
    uint8 public constant REJECT_SELF_TRADE = 3;

    /// @notice accepted
    uint8 public constant READING_OK = 0;
    /// @notice unknown or retired meter
    uint8 public constant READING_UNKNOWN_METER = 1;
    /// @notice meter not owned by that participant
    uint8 public constant READING_WRONG_OWNER = 2;
    /// @notice stale reading
    uint8 public constant READING_STALE = 3;
    /// @notice bad signature
    uint8 public constant READING_BAD_SIGNATURE = 4;
    /// @notice energy counter went backwards
    uint8 public constant READING_COUNTER_BACKWARDS = 5;
    /// @notice field out of range
    uint8 public constant READING_OUT_OF_RANGE = 6;

    bytes32 public constant READING_TYPEHASH =
        keccak256("Reading(bytes32 meterId,uint64 intervalId,uint64 energyWh,uint64 timestamp)");
    bytes32 private constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    uint256 private constant HALF_ORDER = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0;

    // ---------------------------------------------------------------- state

    IERC20 public immutable token;
    bool public immutable requireReadings;
    bytes32 private immutable domainSeparatorAtDeploy;
    uint256 private immutable chainIdAtDeploy;

    address public operator;
    uint32 public participantCount;
    /// @dev participant index (from 1) => wallet (160 bits) | prepaid balance (96 bits).
    mapping(uint256 => uint256) private accounts;
    mapping(address => uint32) public participantIndex;

    mapping(bytes32 => Meter) public meters;
    mapping(bytes32 => string) public meterLocation;
    mapping(bytes32 => uint256) public activeSession;

    uint256 public sessionCount;
    mapping(uint256 => Session) public sessions;
    uint256 public totalSessionDepositsWei;

    /// @notice keccak256 of each settled interval's packed batch; zero while unsettled.
    mapping(uint64 => bytes32) public batchHash;
    uint256 public settledIntervalCount;

    // --------------------------------------------------------------- events

    event OperatorChanged(address indexed previous, address indexed next);
    event ParticipantJoined(address indexed wallet, uint32 indexed index);
    event Deposited(address indexed wallet, uint256 amountWei, uint256 balanceWei);
    event Withdrawn(address indexed wallet, uint256 amountWei, uint256 balanceWei);

    event MeterRegistered(bytes32 indexed meterId, address indexed owner, address attestor, string location);
    event MeterRetired(bytes32 indexed meterId);
    event MeterHandedOver(bytes32 indexed meterId, address indexed from, address indexed to);
    event TariffSet(bytes32 indexed meterId, uint32 tariffWeiPerWh);
    event ReadingAccepted(bytes32 indexed meterId, uint64 indexed intervalId, uint64 energyWh, uint64 timestamp);
    event ReadingRejected(bytes32 indexed meterId, uint64 indexed intervalId, uint8 reason);

    event SessionOpened(
        uint256 indexed sessionId,
        bytes32 indexed meterId,
        address indexed consumer,
        uint256 capWei,
        uint32 priceWeiPerWh
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
    event IntervalSettled(
        uint64 indexed intervalId,
        bytes32 batchHash,
        uint256 settledTrades,
        uint256 rejectedTrades,
        uint256 valueWei,
        uint256 energyWh
    );

    // --------------------------------------------------------------- errors

    error NotOperator(address caller);
    error ZeroAddress();
    error ZeroAmount();
    error NotParticipant(address wallet);
    error InsufficientBalance(address wallet, uint256 balanceWei, uint256 neededWei);
    error BalanceOverflow(address wallet);
    error TransferFailed();

    error ZeroMeterId();
    error MeterExists(bytes32 meterId);
    error MeterNotActive(bytes32 meterId);
    error NotMeterOwner(bytes32 meterId, address caller);
    error StaleReading(
        bytes32 meterId, uint64 intervalId, uint64 timestamp, uint64 lastIntervalId, uint64 lastTimestamp
    );
    error BadSignature(bytes32 meterId);
    error CounterWentBackwards(bytes32 meterId, uint64 energyWh, uint64 lastEnergyWh);
    error ReadingOutOfRange(bytes32 meterId);
    error ReadingForOtherMeter(bytes32 expected, bytes32 given);

    error NoTariff(bytes32 meterId);
    error TariffAboveLimit(bytes32 meterId, uint32 tariffWeiPerWh, uint32 maxWeiPerWh);
    error MeterBusy(bytes32 meterId, uint256 sessionId);
    error SessionNotOpen(uint256 sessionId);
    error NotSessionParty(uint256 sessionId, address caller);

    error InvalidInterval();
    error IntervalAlreadySettled(uint64 intervalId);
    error BadBatchLength(uint256 length);
    error BatchTooLarge(uint256 participants, uint256 trades);
    error ParticipantsNotSorted(uint256 position);
    error UnknownParticipant(uint256 index);
    error SlotOutOfRange(uint256 tradeIndex);
    error ReadingsMismatch(uint256 expected, uint256 given);

    // ------------------------------------------------------------ modifiers

    modifier onlyOperator() {
        if (msg.sender != operator) revert NotOperator(msg.sender);
        _;
    }

    constructor(IERC20 token_, bool requireReadings_) {
        if (address(token_) == address(0)) revert ZeroAddress();
        token = token_;
        requireReadings = requireReadings_;
        operator = msg.sender;
        chainIdAtDeploy = block.chainid;
        domainSeparatorAtDeploy = _domainSeparator();
        emit OperatorChanged(address(0), msg.sender);
    }

    // ------------------------------------------------------------- operator

    /// @notice Hand the operator role to `next`.
    function setOperator(address next) external onlyOperator {
        if (next == address(0)) revert ZeroAddress();
        emit OperatorChanged(operator, next);
        operator = next;
    }

    // ------------------------------------------------------ prepaid wallets

    /// @notice Join the market without a deposit; returns the participant index.
    function join() external returns (uint32) {
        return _indexOrJoin(msg.sender);
    }

    /// @notice Move `amountWei` tokens from the caller's wallet into its prepaid balance.
    function deposit(uint256 amountWei) external {
        if (amountWei == 0) revert ZeroAmount();
        uint32 idx = _indexOrJoin(msg.sender);
        if (!token.transferFrom(msg.sender, address(this), amountWei)) revert TransferFailed();
        uint256 balance = _balance(idx) + amountWei;
        _setBalance(idx, msg.sender, balance);
        emit Deposited(msg.sender, amountWei, balance);
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
        }
        _setBalance(idx, msg.sender, balance);
        if (!token.transfer(msg.sender, amountWei)) revert TransferFailed();
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

    // -------------------------------------------------------- meter registry

    /// @notice Register meter `meterId` owned by `owner`, whose readings `attestor` signs.
    function registerMeter(bytes32 meterId, address owner, address attestor, string calldata location)
        external
        onlyOperator
    {
        if (owner == address(0) || attestor == address(0)) revert ZeroAddress();
        if (meterId == bytes32(0)) revert ZeroMeterId(); // 0 marks "no reading" in settle
        Meter storage m = meters[meterId];
        if (m.status != MeterStatus.None) revert MeterExists(meterId);
        m.owner = owner;
        m.status = MeterStatus.Active;
        m.attestor = attestor;
        meterLocation[meterId] = location;
        emit MeterRegistered(meterId, owner, attestor, location);
    }

    /// @notice Retire a meter for good; it can no longer report or host sessions.
    function retireMeter(bytes32 meterId) external onlyOperator {
        Meter storage m = meters[meterId];
        if (m.status != MeterStatus.Active) revert MeterNotActive(meterId);
        if (activeSession[meterId] != 0) revert MeterBusy(meterId, activeSession[meterId]);
        m.status = MeterStatus.Retired;
        emit MeterRetired(meterId);
    }

    /// @notice The meter's owner hands it over to `to`.
    function handOverMeter(bytes32 meterId, address to) external {
        Meter storage m = _ownedActiveMeter(meterId);
        if (to == address(0)) revert ZeroAddress();
        emit MeterHandedOver(meterId, m.owner, to);
        m.owner = to;
    }

    /// @notice The owner's price for supply sessions on this meter (0 closes it to sessions).
    function setTariff(bytes32 meterId, uint32 tariffWeiPerWh) external {
        Meter storage m = _ownedActiveMeter(meterId);
        m.tariffWeiPerWh = tariffWeiPerWh;
        emit TariffSet(meterId, tariffWeiPerWh);
    }

    /// @notice Record a signed reading outside settlement (e.g. before a session opens).
    function submitReading(SignedReading calldata r) external {
        _requireReading(r, address(0));
    }

    /// @notice EIP-712 domain separator of this contract on the current chain.
    function domainSeparator() public view returns (bytes32) {
        return block.chainid == chainIdAtDeploy ? domainSeparatorAtDeploy : _domainSeparator();
    }

    /// @notice EIP-712 digest the meter's attestor signs for a reading.
    function readingDigest(bytes32 meterId, uint64 intervalId, uint64 energyWh, uint64 timestamp)
        public
        view
        returns (bytes32)
    {
        bytes32 structHash = keccak256(abi.encode(READING_TYPEHASH, meterId, intervalId, energyWh, timestamp));
        return keccak256(abi.encodePacked("\x19\x01", domainSeparator(), structHash));
    }

    // ------------------------------------------------------- supply sessions

    /// @notice Open a supply session on a meter, escrowing up to `capWei` of the caller's
    ///         prepaid balance. The bench unlocks the relay on the SessionOpened event.
    function openSession(bytes32 meterId, uint256 capWei, uint32 maxPriceWeiPerWh)
        external
        returns (uint256 sessionId)
    {
        Meter storage m = meters[meterId];
        if (m.status != MeterStatus.Active) revert MeterNotActive(meterId);
        uint32 tariff = m.tariffWeiPerWh;
        if (tariff == 0) revert NoTariff(meterId);
        if (tariff > maxPriceWeiPerWh) revert TariffAboveLimit(meterId, tariff, maxPriceWeiPerWh);
        if (activeSession[meterId] != 0) revert MeterBusy(meterId, activeSession[meterId]);
        if (capWei == 0) revert ZeroAmount();
        uint32 idx = participantIndex[msg.sender];
        if (idx == 0) revert NotParticipant(msg.sender);
        uint256 balance = _balance(idx);
        if (balance < capWei) revert InsufficientBalance(msg.sender, balance, capWei);
        unchecked {
            _setBalance(idx, msg.sender, balance - capWei);
        }
        sessionId = ++sessionCount;
        sessions[sessionId] = Session({
            consumer: msg.sender,
            // forge-lint: disable-next-line(unsafe-typecast) capWei <= balance < 2**96
            depositWei: uint96(capWei),
            meterId: meterId,
            startEnergyWh: m.lastEnergyWh,
            priceWeiPerWh: tariff,
            open: true
        });
        activeSession[meterId] = sessionId;
        totalSessionDepositsWei += capWei;
        emit SessionOpened(sessionId, meterId, msg.sender, capWei, tariff);
    }

    /// @notice Close a session with the meter's fresh signed reading: bill the metered
    ///         energy (at most the cap) to the meter's owner and refund the rest.
    function closeSession(uint256 sessionId, SignedReading calldata r) external {
        Session storage s = sessions[sessionId];
        if (!s.open) revert SessionNotOpen(sessionId);
        bytes32 meterId = s.meterId;
        address owner = meters[meterId].owner;
        address consumer = s.consumer;
        if (msg.sender != consumer && msg.sender != owner && msg.sender != operator) {
            revert NotSessionParty(sessionId, msg.sender);
        }
        if (r.meterId != meterId) revert ReadingForOtherMeter(meterId, r.meterId);
        _requireReading(r, address(0));
        uint256 energyWh = r.energyWh - s.startEnergyWh;
        uint256 depositWei = s.depositWei;
        uint256 costWei = energyWh * s.priceWeiPerWh;
        uint256 billedWei = costWei < depositWei ? costWei : depositWei;
        uint256 refundWei = depositWei - billedWei;
        s.open = false;
        s.depositWei = 0;
        activeSession[meterId] = 0;
        totalSessionDepositsWei -= depositWei;
        uint32 ownerIdx = _indexOrJoin(owner);
        _setBalance(ownerIdx, owner, _balance(ownerIdx) + billedWei);
        uint32 consumerIdx = participantIndex[consumer];
        _setBalance(consumerIdx, consumer, _balance(consumerIdx) + refundWei);
        emit SessionClosed(sessionId, meterId, consumer, energyWh, billedWei, refundWei);
    }

    // ------------------------------------------------------ batch settlement

    /// @notice Settle interval `intervalId` once. `batch` packs the participants (sorted
    ///         indices) and the trades; `readings` is empty or one per batch participant.
    ///         A trade whose buyer cannot pay, or whose parties lack a verified reading
    ///         when readings are required, is rejected (its reason code is in the one
    ///         TradesRejected event); the rest settle.
    function settle(uint64 intervalId, bytes calldata batch, SignedReading[] calldata readings) external onlyOperator {
        if (intervalId == 0) revert InvalidInterval();
        if (batchHash[intervalId] != 0) revert IntervalAlreadySettled(intervalId);
        (uint256 k, uint256 n) = _batchShape(batch);
        if (readings.length != 0 && readings.length != k) revert ReadingsMismatch(k, readings.length);

        // Memory ledger: word i = balance of slot i, top bit = "has a verified reading".
        uint256[] memory ledger = _loadLedger(batch, k);
        _verifyReadings(intervalId, batch, ledger, readings);

        (uint256 settled, uint256 valueWei, uint256 energyWh, bytes memory reasons) =
            _applyTrades(batch, 2 + 4 * k, n, ledger);
        if (settled != n) emit TradesRejected(intervalId, reasons);

        _storeLedger(batch, ledger);
        bytes32 h = keccak256(batch);
        batchHash[intervalId] = h;
        unchecked {
            ++settledIntervalCount;
        }
        emit IntervalSettled(intervalId, h, settled, n - settled, valueWei, energyWh);
    }

    /// @notice True once interval `intervalId` has been settled.
    function isSettled(uint64 intervalId) external view returns (bool) {
        return batchHash[intervalId] != 0;
    }

    // -------------------------------------------------------------- internal

    uint256 private constant VERIFIED = 1 << 255;

    function _batchShape(bytes calldata batch) private pure returns (uint256 k, uint256 n) {
        if (batch.length < 2) revert BadBatchLength(batch.length);
        k = uint16(bytes2(batch[0:2]));
        uint256 head = 2 + 4 * k;
        if (batch.length < head || (batch.length - head) % 12 != 0) {
            revert BadBatchLength(batch.length);
        }
        n = (batch.length - head) / 12;
        if (k > MAX_BATCH_PARTICIPANTS || n > MAX_BATCH_TRADES) revert BatchTooLarge(k, n);
    }

    function _participantAt(bytes calldata batch, uint256 slot) private pure returns (uint256 idx) {
        assembly {
            idx := shr(224, calldataload(add(batch.offset, add(2, mul(slot, 4)))))
        }
    }

    function _loadLedger(bytes calldata batch, uint256 k) private view returns (uint256[] memory ledger) {
        ledger = new uint256[](k);
        uint256 previous;
        for (uint256 i; i < k; ++i) {
            uint256 idx = _participantAt(batch, i);
            if (idx <= previous) revert ParticipantsNotSorted(i);
            if (idx > participantCount) revert UnknownParticipant(idx);
            previous = idx;
            uint256 balance = accounts[idx] >> 160;
            ledger[i] = requireReadings ? balance : balance | VERIFIED;
        }
    }

    function _verifyReadings(
        uint64 intervalId,
        bytes calldata batch,
        uint256[] memory ledger,
        SignedReading[] calldata readings
    ) private {
        for (uint256 i; i < readings.length; ++i) {
            SignedReading calldata r = readings[i];
            if (r.meterId == bytes32(0)) continue; // no reading for this participant
            address wallet = _wallet(accounts[_participantAt(batch, i)]);
            uint8 code = r.intervalId == intervalId ? _checkReading(r, wallet) : READING_STALE;
            if (code == READING_OK) {
                _recordReading(r);
                ledger[i] |= VERIFIED;
            } else {
                emit ReadingRejected(r.meterId, intervalId, code);
            }
        }
    }

    /// @dev One pass over the packed trades: u16 buyer slot, u16 seller slot,
    ///      u32 energy Wh, u32 price wei/Wh (12 bytes each), netted in `ledger`.
    ///      `reasons[t]` is 0 for a settled trade, else the REJECT_* code.
    function _applyTrades(bytes calldata batch, uint256 start, uint256 n, uint256[] memory ledger)
        private
        pure
        returns (uint256 settled, uint256 valueWei, uint256 energyWh, bytes memory reasons)
    {
        uint256 k = ledger.length;
        reasons = new bytes(n);
        for (uint256 t; t < n; ++t) {
            uint256 word;
            assembly {
                word := calldataload(add(batch.offset, add(start, mul(t, 12))))
            }
            uint256 buyer = word >> 240;
            uint256 seller = (word >> 224) & 0xffff;
            if (buyer >= k || seller >= k) revert SlotOutOfRange(t);
            uint256 energy = (word >> 192) & 0xffffffff;
            uint256 value = energy * ((word >> 160) & 0xffffffff);
            uint256 b;
            uint256 s;
            assembly {
                // in bounds: buyer, seller < k = ledger.length (checked above)
                b := mload(add(ledger, shl(5, add(buyer, 1))))
                s := mload(add(ledger, shl(5, add(seller, 1))))
            }
            uint256 reason;
            if (b & s & VERIFIED == 0) reason = REJECT_NO_READING;
            else if (buyer == seller) reason = REJECT_SELF_TRADE;
            else if ((b & ~VERIFIED) < value) reason = REJECT_INSUFFICIENT_BALANCE;
            if (reason != 0) {
                assembly {
                    mstore8(add(add(reasons, 32), t), reason)
                }
                continue;
            }
            // Balances stay below 2**96 + n * 2**64 < 2**255: the VERIFIED bit is untouched.
            assembly {
                mstore(add(ledger, shl(5, add(buyer, 1))), sub(b, value))
                mstore(add(ledger, shl(5, add(seller, 1))), add(s, value))
            }
            unchecked {
                valueWei += value;
                energyWh += energy;
                ++settled;
            }
        }
    }

    function _storeLedger(bytes calldata batch, uint256[] memory ledger) private {
        for (uint256 i; i < ledger.length; ++i) {
            uint256 idx = _participantAt(batch, i);
            uint256 word = accounts[idx];
            uint256 balance = ledger[i] & ~VERIFIED;
            if (balance != word >> 160) {
                _setBalance(idx, _wallet(word), balance);
            }
        }
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
        if (m.owner != msg.sender) revert NotMeterOwner(meterId, msg.sender);
    }

    /// @dev Checks a reading against the registry; `owner` != 0 also requires that owner.
    function _checkReading(SignedReading calldata r, address owner) private view returns (uint8) {
        Meter storage m = meters[r.meterId];
        if (m.status != MeterStatus.Active) return READING_UNKNOWN_METER;
        if (owner != address(0) && m.owner != owner) return READING_WRONG_OWNER;
        // Fresh = (intervalId, timestamp) strictly after the last accepted reading's.
        uint256 lastInterval = m.lastIntervalId;
        if (r.intervalId < lastInterval || (r.intervalId == lastInterval && r.timestamp <= m.lastTimestamp)) {
            return READING_STALE;
        }
        if (r.energyWh < m.lastEnergyWh) return READING_COUNTER_BACKWARDS;
        if (r.intervalId > type(uint48).max || r.energyWh > type(uint48).max || r.timestamp > type(uint56).max) {
            return READING_OUT_OF_RANGE;
        }
        bytes32 digest = readingDigest(r.meterId, r.intervalId, r.energyWh, r.timestamp);
        if (uint256(r.s) > HALF_ORDER) return READING_BAD_SIGNATURE;
        address signer = ecrecover(digest, r.v, r.r, r.s);
        if (signer == address(0) || signer != m.attestor) return READING_BAD_SIGNATURE;
        return READING_OK;
    }

    function _requireReading(SignedReading calldata r, address owner) private {
        uint8 code = _checkReading(r, owner);
        if (code == READING_UNKNOWN_METER) revert MeterNotActive(r.meterId);
        if (code == READING_STALE) {
            Meter storage m = meters[r.meterId];
            revert StaleReading(r.meterId, r.intervalId, r.timestamp, m.lastIntervalId, m.lastTimestamp);
        }
        if (code == READING_COUNTER_BACKWARDS) {
            revert CounterWentBackwards(r.meterId, r.energyWh, meters[r.meterId].lastEnergyWh);
        }
        if (code == READING_OUT_OF_RANGE) revert ReadingOutOfRange(r.meterId);
        if (code == READING_BAD_SIGNATURE) revert BadSignature(r.meterId);
        _recordReading(r);
    }

    function _recordReading(SignedReading calldata r) private {
        Meter storage m = meters[r.meterId];
        // forge-lint: disable-next-line(unsafe-typecast) range checked in _checkReading
        m.lastIntervalId = uint48(r.intervalId);
        // forge-lint: disable-next-line(unsafe-typecast) range checked in _checkReading
        m.lastEnergyWh = uint48(r.energyWh);
        // forge-lint: disable-next-line(unsafe-typecast) range checked in _checkReading
        m.lastTimestamp = uint56(r.timestamp);
        emit ReadingAccepted(r.meterId, r.intervalId, r.energyWh, r.timestamp);
    }

    function _domainSeparator() private view returns (bytes32) {
        return
            keccak256(
                abi.encode(DOMAIN_TYPEHASH, keccak256("GridMarket"), keccak256("1"), block.chainid, address(this))
            );
    }
}
