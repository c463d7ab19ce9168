"""Slot vocabularies: service names, regions, numbers and the many ways of saying a severity cue.

Every pool is a pair (shared, held_out). The training-side splits (sft, prefs, eval) draw from `shared` only.
The unseen split draws names (services, regions) from shared + held_out, so it also tests component extraction
on names never trained on, and draws cue phrasings (how "down for everyone", "a retry works", "no customer
impact" are said, and the surface openers) from `held_out` only, so no cue phrasing of an unseen report was
ever trained on. All text here is written for this workbook.
"""

from __future__ import annotations

import random

# ----------------------------------------------------------------------------- names (unseen: shared + held out)

NAMES: dict[str, tuple[list, list]] = {
    "svc": ([
        "checkout-api", "payments-gateway", "auth-service", "search-api", "mobile-api", "web-frontend",
        "order-service", "cart-service", "user-profile-service", "notification-service", "inventory-service",
        "recommendation-engine", "shipping-tracker", "media-cdn", "account-db", "billing-service",
        "subscription-service", "video-streamer", "chat-service", "booking-api",
    ], ["loyalty-api", "pricing-engine", "reviews-api"]),
    "data_svc": (["order-service", "account-db", "billing-service", "user-profile-service", "booking-api",
                  "subscription-service", "inventory-service"], ["ledger-db", "wallet-service"]),
    "pay_svc": (["payments-gateway", "checkout-api", "billing-service", "subscription-service"],
                ["wallet-service", "payout-api"]),
    "auth_svc": (["auth-service", "login-service", "sso-gateway", "identity-api"], ["passkey-service"]),
    "int_svc": (["ci-runners", "admin-dashboard", "metrics-pipeline", "log-shipper", "internal-wiki", "deploy-bot",
                 "hr-portal", "build-cache", "feature-flag-console", "vpn-gateway"],
                ["oncall-scheduler", "release-dashboard"]),
    "batch_svc": (["data-warehouse-etl", "report-generator", "db-backup", "invoice-batch", "search-indexer",
                   "email-digest", "sitemap-builder", "analytics-export"],
                  ["ledger-reconciler", "churn-model-trainer"]),
    "region": (["us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-1", "ap-northeast-1",
                "sa-east-1", "ca-central-1"], ["me-central-1", "af-south-1"]),
}

# The service slots a report can name as its component.
SERVICE_SLOTS = ("svc", "data_svc", "pay_svc", "auth_svc", "int_svc", "batch_svc")

# ----------------------------------------------------------------------------- cue phrasings (unseen: held out only)

CUES: dict[str, tuple[list, list]] = {
    # everyone is affected (SEV1 scope)
    "everyone": (["for everyone", "for all users", "for every customer", "for the whole user base",
                  "for all of our customers", "for 100% of users"],
                 ["for every last customer", "across the entire customer base"]),
    # a full outage, as a verb phrase after the service name
    "down": (["is completely down", "is hard down", "is not responding at all", "won't load",
              "is unreachable", "is dead"],
             ["has gone dark", "is flatlined"]),
    # one region only (SEV2 scope)
    "only_in": (["only in", "just in", "exclusively in", "only for users in"], ["nowhere except", "solely in"]),
    "others_ok": (["other regions are healthy", "every other region looks fine", "the rest of the world is unaffected",
                   "traffic elsewhere is normal", "the other regions are fine"],
                  ["outside that region nothing is wrong", "the remaining regions report green"]),
    # no workaround (SEV2)
    "no_workaround": (["no workaround known", "retries fail too", "there is no way around it",
                       "refreshing does not help", "nothing we can tell users to try"],
                      ["no fallback exists for them", "every retry fails the same way"]),
    # a workaround exists (SEV3)
    "workaround": (["a refresh fixes it", "retrying works", "a page reload gets past it",
                    "the second attempt goes through", "client retries succeed"],
                   ["hitting the button again usually works", "reloading clears it"]),
    # no customer impact (SEV4)
    "no_impact": (["no customer impact", "customers are not affected", "no users affected",
                   "zero user-facing errors", "nothing customer-facing is affected"],
                  ["not a single customer noticed", "the customer side is untouched"]),
    # mild openers over real impact (hard cases)
    "mild": (["Small heads-up, probably nothing big:", "fyi, no rush:", "Low priority:", "Not urgent maybe, but",
              "Quick one, nothing dramatic:"],
             ["Probably fine, just flagging:", "No panic, but"]),
    # alarming openers over little impact (hard cases)
    "alarm": (["URGENT!!!", "EMERGENCY -", "CRITICAL:", "P0 P0 P0", "!!! ALL HANDS !!!"],
              ["RED ALERT:", "HELP, this is bad:"]),
}

# ----------------------------------------------------------------------------- other slot values (shared by all)

ERRORS = ["HTTP 500", "HTTP 502", "HTTP 503", "HTTP 504", "connection timeouts", "connection refused errors"]
RECORDS = ["orders", "accounts", "invoices", "profiles", "bookings", "subscriptions", "payment records"]
CAUSES = ["a schema migration", "the nightly cleanup job", "a bad deploy", "a manual SQL fix",
          "a replication failover", "a config push"]
EXPOSED = ["other customers' email addresses", "other users' billing addresses", "other customers' order history",
           "other users' phone numbers", "other customers' names and saved cards' last four digits"]
KEY_FEATURES = ["login", "search", "order placement", "adding items to the cart", "password reset",
                "account sign-up", "order tracking"]
MINOR_FEATURES = ["avatar uploads", "the wishlist", "CSV export of order history", "review photo uploads",
                  "the dark-mode toggle", "gift-message editing", "the referral banner", "saved-search alerts"]
COSMETIC = ["a typo ('recieve') on the pricing page", "a misaligned logo in the footer",
            "the wrong font on the settings page", "a broken tooltip on the profile page",
            "an outdated copyright year in the footer", "a truncated button label on the help page"]
ENVIRONMENTS = ["staging", "the dev environment", "the QA cluster", "the load-test environment"]
PLATFORMS = ["Android app", "iOS app", "desktop web", "mobile web"]
PEOPLE = ["Priya", "Marco", "Dana", "Kenji", "Olu", "Sofia", "Lena", "Tomasz", "Aisha", "Ruben"]
TENANTS = ["one enterprise customer", "a single reseller account", "one pilot customer", "a single tenant"]
CHANNELS = ["SMS", "push", "email"]


def _time(rng: random.Random) -> str:
    return f"{rng.randrange(24):02d}:{rng.choice(range(0, 60, 5)):02d} UTC"


def draw_slots(rng: random.Random, unseen: bool) -> dict:
    """One set of slot values; each template uses the ones it needs. The draw order is fixed (determinism)."""
    slots: dict = {}
    for name, (shared, held) in NAMES.items():
        slots[name] = rng.choice(shared + held if unseen else shared)
    for name, (shared, held) in CUES.items():
        slots[name] = rng.choice(held if unseen else shared)
    slots.update({
        "err": rng.choice(ERRORS), "dur": rng.choice([5, 8, 10, 12, 15, 20, 25, 30, 40, 45, 50, 60, 75, 90]),
        "time": _time(rng), "tk": rng.randrange(1000, 99999), "person": rng.choice(PEOPLE),
        "n": rng.choice([120, 250, 480, 900, 1300, 2400, 5100, 12000, 48000]),
        "few": rng.choice([3, 4, 6, 7, 9, 11, 14, 17]),
        "what": rng.choice(RECORDS), "cause": rng.choice(CAUSES), "exposed": rng.choice(EXPOSED),
        "pay_pct": rng.choice([60, 65, 70, 75, 80, 85, 90, 95, 100]),
        "big_pct": rng.choice([20, 25, 30, 35, 40, 45, 50]),
        "small_pct": rng.choice([0.5, 1, 1.5, 2, 2.5, 3, 4]),
        "lat": rng.choice([4, 6, 8, 9, 12, 15, 20, 30]),
        "key_feature": rng.choice(KEY_FEATURES), "minor_feature": rng.choice(MINOR_FEATURES),
        "cosmetic": rng.choice(COSMETIC), "env": rng.choice(ENVIRONMENTS), "platform": rng.choice(PLATFORMS),
        "retry_min": rng.choice([3, 5, 10, 15, 20, 30]), "disk": rng.choice([71, 72, 75, 78, 81]),
        "flaps": rng.choice([3, 4, 6, 9, 14, 22]),
        "retries": rng.choice([1800, 4700, 15000, 48000, 230000]),
        "fails": rng.choice([2300, 4100, 8700, 12000, 31000]), "millions": rng.choice([40, 65, 120, 300]),
        "restarts": rng.choice([2, 3, 5, 8]), "days": rng.choice([9, 14, 21, 30, 45]),
        "hours": rng.choice([2, 3, 4, 6]), "tenant": rng.choice(TENANTS), "channel": rng.choice(CHANNELS),
        "charged": rng.choice([340, 900, 1700, 4200, 8800]),
    })
    return slots
