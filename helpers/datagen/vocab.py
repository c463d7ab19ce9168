"""Slot vocabularies: service names, regions, numbers and the many ways of saying a severity cue.

Every pool is a dict of three lists, one per split group: `shared` (sft, prefs and eval draw only from these),
`unseen` (held out for the unseen split) and `dev` (held out for the dev_unseen split). A held-out split draws
names (services, regions) from shared + its own group, so it also tests component extraction on names never
trained on, and draws cue phrasings (how "down for everyone", "a retry works", "no customer impact" are said,
and the surface openers) from its own group only, so no cue phrasing of its reports was ever trained on or
appears in the other held-out split. All text here is written for this workbook.
"""

from __future__ import annotations

import random

# ----------------------------------------------------------------------------- names (held out: shared + own)

NAMES: dict[str, dict[str, list]] = {
    "svc": {"shared": [
        "checkout-api", "payments-gateway", "auth-service", "search-api", "mobile-api", "web-frontend",
        "order-service", "cart-service", "user-profile-service", "notification-service", "inventory-service",
        "recommendation-engine", "shipping-tracker", "media-cdn", "account-db", "billing-service",
        "subscription-service", "video-streamer", "chat-service", "booking-api",
    ], "unseen": ["loyalty-api", "pricing-engine", "reviews-api"], "dev": ["gift-card-api", "returns-service"]},
    "data_svc": {"shared": ["order-service", "account-db", "billing-service", "user-profile-service", "booking-api",
                            "subscription-service", "inventory-service"],
                 "unseen": ["ledger-db", "wallet-service"], "dev": ["warranty-db"]},
    "pay_svc": {"shared": ["payments-gateway", "checkout-api", "billing-service", "subscription-service"],
                "unseen": ["wallet-service", "payout-api"], "dev": ["refund-service"]},
    "auth_svc": {"shared": ["auth-service", "login-service", "sso-gateway", "identity-api"],
                 "unseen": ["passkey-service"], "dev": ["mfa-service"]},
    "int_svc": {"shared": ["ci-runners", "admin-dashboard", "metrics-pipeline", "log-shipper", "internal-wiki",
                           "deploy-bot", "hr-portal", "build-cache", "feature-flag-console", "vpn-gateway"],
                "unseen": ["oncall-scheduler", "release-dashboard"], "dev": ["incident-bot"]},
    "batch_svc": {"shared": ["data-warehouse-etl", "report-generator", "db-backup", "invoice-batch", "search-indexer",
                             "email-digest", "sitemap-builder", "analytics-export"],
                  "unseen": ["ledger-reconciler", "churn-model-trainer"], "dev": ["fraud-score-batch"]},
    "region": {"shared": ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-1", "ap-northeast-1",
                          "sa-east-1", "ca-central-1"],
               "unseen": ["me-central-1", "af-south-1"], "dev": ["eu-north-1", "ap-south-1"]},
}

# The service slots a report can name as its component.
SERVICE_SLOTS = ("svc", "data_svc", "pay_svc", "auth_svc", "int_svc", "batch_svc")

# ----------------------------------------------------------------------------- cue phrasings (held out: own only)

CUES: dict[str, dict[str, list]] = {
    # everyone is affected (SEV1 scope)
    "everyone": {"shared": ["for everyone", "for all users", "for every customer", "for the whole user base",
                            "for all of our customers", "for 100% of users"],
                 "unseen": ["for every last customer", "across the entire customer base"],
                 "dev": ["for each and every user", "for the entire user population"]},
    # a full outage, as a verb phrase after the service name
    "down": {"shared": ["is completely down", "is hard down", "is not responding at all", "won't load",
                        "is unreachable", "is dead"],
             "unseen": ["has gone dark", "is flatlined"],
             "dev": ["is totally offline", "has stopped answering entirely"]},
    # one region only (SEV2 scope)
    "only_in": {"shared": ["only in", "just in", "exclusively in", "only for users in"],
                "unseen": ["nowhere except", "solely in"], "dev": ["strictly in", "purely in"]},
    "others_ok": {"shared": ["other regions are healthy", "every other region looks fine",
                             "the rest of the world is unaffected", "traffic elsewhere is normal",
                             "the other regions are fine"],
                  "unseen": ["outside that region nothing is wrong", "the remaining regions report green"],
                  "dev": ["all other regions are serving normally", "no other region shows a problem"]},
    # no workaround (SEV2)
    "no_workaround": {"shared": ["no workaround known", "retries fail too", "there is no way around it",
                                 "refreshing does not help", "nothing we can tell users to try"],
                      "unseen": ["no fallback exists for them", "every retry fails the same way"],
                      "dev": ["users have no alternative route", "trying again changes nothing"]},
    # a workaround exists (SEV3)
    "workaround": {"shared": ["a refresh fixes it", "retrying works", "a page reload gets past it",
                              "the second attempt goes through", "client retries succeed"],
                   "unseen": ["hitting the button again usually works", "reloading clears it"],
                   "dev": ["a second try gets them through", "trying once more succeeds"]},
    # no customer impact (SEV4)
    "no_impact": {"shared": ["no customer impact", "customers are not affected", "no users affected",
                             "zero user-facing errors", "nothing customer-facing is affected"],
                  "unseen": ["not a single customer noticed", "the customer side is untouched"],
                  "dev": ["customers saw nothing", "no customer-visible effect"]},
    # mild openers over real impact (hard cases)
    "mild": {"shared": ["Small heads-up, probably nothing big:", "fyi, no rush:", "Low priority:",
                        "Not urgent maybe, but", "Quick one, nothing dramatic:"],
             "unseen": ["Probably fine, just flagging:", "No panic, but"],
             "dev": ["Nothing pressing, but", "Whenever convenient:"]},
    # alarming openers over little impact (hard cases)
    "alarm": {"shared": ["URGENT!!!", "EMERGENCY -", "CRITICAL:", "P0 P0 P0", "!!! ALL HANDS !!!"],
              "unseen": ["RED ALERT:", "HELP, this is bad:"],
              "dev": ["SOUND THE ALARM:", "DROP EVERYTHING -"]},
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


def names_for(pool: dict[str, list], group: str) -> list:
    """The names a split group draws from: the shared ones, plus its own held-out ones."""
    return pool["shared"] if group == "shared" else pool["shared"] + pool[group]


def draw_slots(rng: random.Random, group: str) -> dict:
    """One set of slot values for a split group; each template uses the ones it needs. The draw order is fixed
    (determinism), and every group makes the same draws, so adding a group changes no other group's data."""
    slots: dict = {}
    for name, pool in NAMES.items():
        slots[name] = rng.choice(names_for(pool, group))
    for name, pool in CUES.items():
        slots[name] = rng.choice(pool[group])
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
