"""The cleaning rules, in one place: every default is documented in the dataset card."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

# The four classification heads of the model, in the order the project uses everywhere.
HEADS: tuple[str, ...] = ("articleType", "baseColour", "season", "usage")

# The columns of the Kaggle `styles.csv` (and of the Hub dataset, which adds `image`).
RAW_COLUMNS: tuple[str, ...] = (
    "id",
    "gender",
    "masterCategory",
    "subCategory",
    "articleType",
    "baseColour",
    "season",
    "year",
    "usage",
    "productDisplayName",
)

# The 33 most frequent article types of apparel, footwear and accessories in the real data
# (most frequent first). Out of focus, like in the original project: traditional wear (Kurtas,
# Sarees, Kurtis, Dupatta, Kurta Sets, Salwar, Patiala, Churidar, Lehenga Choli, ...),
# personal care (perfume, deodorant, make-up, ...), free items, sporting goods and home.
ARTICLE_TYPES: tuple[str, ...] = (
    "Tshirts", "Shirts", "Casual Shoes", "Watches", "Sports Shoes", "Handbags", "Tops",
    "Heels", "Sunglasses", "Wallets", "Flip Flops", "Sandals", "Briefs", "Belts", "Backpacks",
    "Socks", "Formal Shoes", "Jeans", "Shorts", "Trousers", "Flats", "Dresses", "Bra",
    "Earrings", "Track Pants", "Clutches", "Sweatshirts", "Caps", "Sweaters", "Ties", "Jackets",
    "Innerwear Vests", "Tunics",
)  # fmt: skip


class Reason:
    """Why a row is dropped; the first rule that fails (in this order) is the one reported."""

    MALFORMED_LINE = "malformed_line"  # fewer fields than the header
    INVALID_ID = "invalid_id"  # id is not a positive integer without leading zeros (it names the image file)
    NO_IMAGE = "no_image"  # no image file for the id
    UNREADABLE_IMAGE = "unreadable_image"  # PIL cannot decode it (truncated, corrupt, not an image)
    GRAYSCALE_IMAGE = "grayscale_image"  # only with `drop_grayscale=True`
    MISSING_LABEL = "missing_label"  # suffixed ':<head>'; empty or placeholder head label
    ARTICLE_TYPE_OUT_OF_SCOPE = "article_type_out_of_scope"
    DUPLICATE = "duplicate"  # byte-identical image with identical head labels: first line kept
    DUPLICATE_CONFLICTING_LABELS = "duplicate_conflicting_labels"  # all copies dropped
    RARE_CLASS = "rare_class"  # suffixed ':<head>'; class below `min_examples`


@dataclass(frozen=True)
class CleaningRules:
    """What a kept row must satisfy. Change a default here, and it changes everywhere."""

    # Article types kept (the articleType class list, unless one falls below `min_examples`).
    article_types: tuple[str, ...] = ARTICLE_TYPES
    # Values that mean "no value" (compared after stripping, case-insensitively).
    placeholders: tuple[str, ...] = ("", "NA", "N/A", "nan", "None", "null", "-")
    # A class needs this many kept rows to be learnable and evaluable: an 80/20 split stratified by
    # articleType leaves an article type of 20 at least 4 in validation (a class of another head gets
    # about a fifth of its rows, by chance). Rows of a smaller class are dropped (not relabelled), so that
    # every kept row has a valid label for all four heads.
    min_examples: int = 20
    # Grayscale images and images not 60x80 are real product photos: they are kept (the model
    # converts to RGB and resizes) and flagged in the report with their mode and size.
    drop_grayscale: bool = False
    # Workers that decode images to verify them; 0 means one per CPU.
    decode_workers: int = 0

    def is_placeholder(self, value: str | None) -> bool:
        """Whether a raw value means "missing"."""
        return value is None or value.strip().lower() in {p.lower() for p in self.placeholders}

    def to_dict(self) -> dict[str, Any]:
        """The rules as plain JSON-able data (for the summary and the card)."""
        rules = asdict(self)
        rules["article_types"] = list(self.article_types)
        rules["placeholders"] = list(self.placeholders)
        return rules
