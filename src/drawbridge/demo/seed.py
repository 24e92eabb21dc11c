"""Deterministic demo data: 25 customers with realistic fake UK personal data and 80 orders over one year.

Everything comes from one seeded ``random.Random`` and a fixed epoch, never from the clock, so every fresh
database holds the same rows and the example ids in docs/demo.md stay true (tests/demo checks them).
The personal data is fake but shaped like the real thing (names, ``example.com`` emails, valid UK mobile
numbers, National Insurance numbers with valid prefixes, postcodes), so masking has something real to find.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

SEED = 20261125
# 2026-11-25T00:00:00Z: the seed's "now". Orders are placed in the 365 days before it.
SEED_EPOCH = 1_795_564_800.0
DAY = 86_400.0
CUSTOMER_COUNT = 25
ORDER_COUNT = 80
RECENT_ORDER_COUNT = 6  # placed in the last 8 days, so every status before "delivered" occurs

_FIRST_NAMES = (
    "Oliver", "Amelia", "George", "Isla", "Harry", "Ava", "Jack", "Mia", "Charlie", "Ivy", "Thomas", "Freya",
    "Alfie", "Florence", "Oscar", "Poppy", "James", "Emily", "William", "Sophie", "Rhys", "Niamh", "Callum",
    "Eilidh", "Priya", "Arjun", "Aisha", "Mohammed", "Grace", "Ethan",
)  # fmt: skip
_LAST_NAMES = (
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Robinson", "Wright",
    "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall", "Wood", "Jackson", "Clarke", "Patel",
    "Khan", "Hughes", "MacDonald", "Campbell", "O'Neill", "Lewis", "Morgan",
)  # fmt: skip
_STREETS = (
    "High Street", "Station Road", "Church Lane", "Victoria Road", "Green Lane", "Manor Road", "Park Avenue",
    "Queen Street", "Mill Lane", "Kings Road", "The Crescent", "Alexandra Road", "Windsor Close", "Orchard Way",
)  # fmt: skip
# (post town, postcode area, highest district number in use)
_TOWNS = (
    ("London", "SE", 28), ("Manchester", "M", 40), ("Leeds", "LS", 29), ("Bristol", "BS", 41),
    ("Birmingham", "B", 99), ("Edinburgh", "EH", 55), ("Cardiff", "CF", 48), ("Glasgow", "G", 84),
    ("Norwich", "NR", 35), ("Brighton", "BN", 45), ("York", "YO", 62), ("Belfast", "BT", 94),
)  # fmt: skip
# The inward code's last two letters never use C, I, K, M, O or V (Royal Mail).
_INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
# HMRC: neither prefix letter is D, F, I, Q, U or V; the second is not O; some pairs are never issued.
_NI_LETTERS = "ABCEGHJKLMNOPRSTWXYZ"
_NI_UNUSED_PREFIXES = frozenset({"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"})
# (price in pence, weight): a small catalogue, mostly cheap things, a few expensive ones.
_PRICES = (
    (499, 6),
    (899, 6),
    (1299, 5),
    (1999, 4),
    (2499, 3),
    (3499, 3),
    (4999, 2),
    (7999, 2),
    (12999, 1),
    (24999, 1),
    (54999, 1),
)


@dataclass(frozen=True, slots=True)
class SeedCustomer:
    """One row of ``demo_customers``."""

    id: int
    name: str
    email: str
    phone: str
    ni_number: str
    address: str
    created_at: float


@dataclass(frozen=True, slots=True)
class SeedOrder:
    """One row of ``demo_orders``."""

    id: int
    customer_id: int
    status: str
    total_pence: int
    currency: str
    item_count: int
    placed_at: float
    shipped_at: float | None
    delivered_at: float | None
    tracking_number: str | None


@dataclass(frozen=True, slots=True)
class SeedMessage:
    """One row of ``demo_messages``: what a customer wrote to support, verbatim (people paste personal data)."""

    id: int
    customer_id: int
    received_at: float
    text: str


# Customers who can sign in to the demo (``--dev``) and read their own orders: (username, customer id).
ACCOUNTS: tuple[tuple[str, int], ...] = (("thomas", 3),)

_MESSAGES = (
    "Hi, I moved house. My National Insurance number is {ni} if you need to check it's me.",
    "Please ring me on {phone} about my last order, I'm out most mornings.",
    "Can you send the receipt to {email}? The other address doesn't work any more.",
    "Where is my parcel? It was meant to arrive on Tuesday.",
    "Thanks for the quick delivery, all arrived fine.",
    "For the refund form: NI {ni}, phone {phone}.",
)


def generate() -> tuple[list[SeedCustomer], list[SeedOrder]]:
    """The demo's customers and orders: the same on every call. Ids start at 1; order ids follow placing time."""
    rng = random.Random(SEED)  # noqa: S311 - reproducible fake data, not secrets
    customers = [_customer(rng, i) for i in range(1, CUSTOMER_COUNT + 1)]
    ages = [rng.uniform(8, 365) for _ in range(ORDER_COUNT - RECENT_ORDER_COUNT)]
    ages += [rng.uniform(0, 8) for _ in range(RECENT_ORDER_COUNT - 1)]
    ages.append(rng.uniform(0, 0.4))  # the newest order came in hours ago and is not paid yet
    ages.sort(reverse=True)
    orders = [_order(rng, order_id, age) for order_id, age in enumerate(ages, start=1)]
    return customers, orders


def generate_messages(customers: list[SeedCustomer]) -> list[SeedMessage]:
    """Up to two messages per customer, from their own ``Random`` so adding them left the orders unchanged.

    Customer 1's latest message always carries their NI number: the masking example in docs/demo.md.
    """
    rng = random.Random(SEED + 1)  # noqa: S311 - reproducible fake data, not secrets
    messages: list[SeedMessage] = []
    for customer in customers:
        count = 2 if customer.id == 1 else rng.choice((0, 1, 1, 2))
        for n in range(count):
            template = _MESSAGES[0] if customer.id == 1 and n == count - 1 else rng.choice(_MESSAGES)
            text = template.format(ni=customer.ni_number, phone=customer.phone, email=customer.email)
            received_at = SEED_EPOCH - (count - n) * rng.uniform(5, 60) * DAY
            messages.append(SeedMessage(len(messages) + 1, customer.id, received_at, text))
    return messages


def _customer(rng: random.Random, customer_id: int) -> SeedCustomer:
    first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
    local = f"{first}.{last}".lower().replace("'", "")
    domain = rng.choice(("example.com", "example.co.uk"))
    # The id in the email keeps addresses unique when two customers share a name.
    email = f"{local}{customer_id}@{domain}"
    # +44 7911 1xxxxx: a mobile range that libphonenumber accepts as a valid UK number.
    phone = f"+44 7911 1{rng.randrange(100_000):05d}"
    return SeedCustomer(
        id=customer_id,
        name=f"{first} {last}",
        email=email,
        phone=phone,
        ni_number=_ni_number(rng),
        address=_address(rng),
        created_at=SEED_EPOCH - rng.uniform(400, 1500) * DAY,
    )


def _ni_number(rng: random.Random) -> str:
    while True:
        prefix = rng.choice(_NI_LETTERS) + rng.choice(_NI_LETTERS.replace("O", ""))
        if prefix not in _NI_UNUSED_PREFIXES:
            break
    digits = f"{rng.randrange(1_000_000):06d}"
    return f"{prefix} {digits[0:2]} {digits[2:4]} {digits[4:6]} {rng.choice('ABCD')}"


def _address(rng: random.Random) -> str:
    town, area, districts = rng.choice(_TOWNS)
    inward = f"{rng.randrange(10)}{rng.choice(_INWARD_LETTERS)}{rng.choice(_INWARD_LETTERS)}"
    postcode = f"{area}{rng.randint(1, districts)} {inward}"
    return f"{rng.randint(1, 180)} {rng.choice(_STREETS)}, {town} {postcode}"


def _order(rng: random.Random, order_id: int, age_days: float) -> SeedOrder:
    placed_at = SEED_EPOCH - age_days * DAY
    prices, weights = zip(*_PRICES, strict=True)
    item_count = rng.choices((1, 2, 3, 4, 5), weights=(5, 4, 3, 2, 1))[0]
    total = sum(rng.choices(prices, weights=weights, k=item_count))
    shipped_at = placed_at + rng.uniform(0.5, 3) * DAY
    delivered_at = shipped_at + rng.uniform(1, 4) * DAY
    status = _status(rng, placed_at, shipped_at, delivered_at)
    shipped = status in ("shipped", "delivered", "refunded")
    delivered = status in ("delivered", "refunded")
    return SeedOrder(
        id=order_id,
        customer_id=rng.randint(1, CUSTOMER_COUNT),
        status=status,
        total_pence=total,
        currency="GBP",
        item_count=item_count,
        placed_at=placed_at,
        shipped_at=shipped_at if shipped else None,
        delivered_at=delivered_at if delivered else None,
        tracking_number=f"JD{rng.randrange(10**9):09d}GB" if shipped else None,
    )


def _status(rng: random.Random, placed_at: float, shipped_at: float, delivered_at: float) -> str:
    roll = rng.random()
    if delivered_at <= SEED_EPOCH:
        return "cancelled" if roll < 0.07 else "refunded" if roll < 0.13 else "delivered"
    if shipped_at <= SEED_EPOCH:
        return "shipped"
    if SEED_EPOCH - placed_at < DAY / 2:
        return "placed"
    return "cancelled" if roll < 0.1 else "paid"
