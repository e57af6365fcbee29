"""The cast of the demo workload: teams, projects, users, models and the action mix."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from usagelens.model import ENTITY_SCHEMAS, AssetKind

__all__ = ["ACTIONS", "Action", "Catalog", "build_catalog"]

_TEAMS = ("Aurora Studios", "Blue Fox Games", "Cinder Labs", "Dune Interactive")
_ADJ = (
    "Neon",
    "Velvet",
    "Solar",
    "Frosted",
    "Ancient",
    "Pixel",
    "Ink",
    "Chrome",
    "Misty",
    "Golden",
    "Cozy",
    "Brutalist",
    "Ethereal",
    "Retro",
    "Lunar",
    "Painted",
    "Clay",
    "Noir",
)
_NOUN = (
    "Portraits",
    "Landscapes",
    "Props",
    "Characters",
    "Icons",
    "Textures",
    "Creatures",
    "Interiors",
    "Vehicles",
    "Weapons",
    "Potions",
    "Buildings",
    "Skyboxes",
    "Sprites",
)
_PHASES = ("Prototype", "Launch", "Season", "Marketing")
_FIRST = (
    "Ada",
    "Bruno",
    "Chloé",
    "Dev",
    "Emma",
    "Farid",
    "Grace",
    "Hiro",
    "Inès",
    "Jonas",
    "Kira",
    "Liam",
    "Maya",
    "Noah",
    "Olga",
    "Pablo",
    "Quinn",
    "Rosa",
    "Sami",
    "Tess",
)
_LAST = (
    "Martin",
    "Okafor",
    "Nguyen",
    "Silva",
    "Kowalski",
    "Haddad",
    "Tanaka",
    "Dubois",
    "Müller",
    "Rossi",
    "Kaur",
    "Andersen",
    "García",
    "Novak",
    "Cohen",
    "Li",
)


@dataclass(frozen=True)
class Action:
    """A usage type: share of events, asset kinds it creates, CU range in micro-CU."""

    name: str
    weight: float
    kinds: tuple[tuple[str, float], ...]
    cu: tuple[int, int, int]  # min, max, step (micro-CU)
    job: bool = True
    model: bool = True


_M = 1_000_000
#: Usage types are names Scenario's API uses (``usageName``/``action``), so the demo store is
#: also a valid upstream for Scenario's SDK in strict mode. Generations create every kind.
ACTIONS: tuple[Action, ...] = (
    Action(
        "images-generation",
        0.60,
        (("image", 0.84), ("video", 0.07), ("3d", 0.03), ("audio", 0.03), ("image-hdr", 0.03)),
        (_M, 12 * _M, _M // 4),
    ),
    Action("upscale", 0.11, (("image", 1.0),), (2 * _M, 10 * _M, _M), model=False),
    Action("background-removal", 0.08, (("image", 1.0),), (_M, 2 * _M, _M // 2), model=False),
    Action("restyle", 0.04, (("image", 1.0),), (2 * _M, 8 * _M, _M // 2)),
    Action("texture", 0.03, (("image", 1.0),), (3 * _M, 15 * _M, _M)),
    Action("skybox-base-360", 0.02, (("image-hdr", 1.0),), (10 * _M, 40 * _M, 5 * _M)),
    Action("captioning", 0.04, (("text", 0.8), ("", 0.2)), (_M // 80, _M // 2, _M // 80)),
    Action("custom", 0.04, (("json", 0.5), ("document", 0.3), ("", 0.2)), (_M // 10, 3 * _M, 1250), model=False),
    Action("models-training", 0.02, (("", 1.0),), (200 * _M, 1500 * _M, 25 * _M)),
    Action("refunds", 0.02, (("", 1.0),), (_M, 12 * _M, _M // 4), job=False, model=False),
)
KIND_NAMES: tuple[str, ...] = tuple(k.value for k in AssetKind)


class Catalog:
    """Ids, names and weights for one seed; vectorised draws used by the generator."""

    def __init__(self, seed: int, users: int = 320, models: int = 420) -> None:
        rng = np.random.default_rng([seed, 0xCA7])
        s = f"{seed:x}"
        self.team_ids = [f"team_{s}_{i}" for i in range(len(_TEAMS))]
        counts = rng.integers(4, 10, size=len(_TEAMS))
        self.proj_start = np.concatenate([[0], np.cumsum(counts)[:-1]])
        self.proj_count = counts
        self.project_team = np.repeat(np.arange(len(_TEAMS)), counts)
        self.project_ids = [f"proj_{s}_{i}" for i in range(int(counts.sum()))]
        n_users = users
        self.user_team = rng.choice(len(_TEAMS), size=n_users, p=[0.4, 0.3, 0.2, 0.1])
        self.user_home = self.proj_start[self.user_team] + (rng.random(n_users) * counts[self.user_team]).astype(int)
        self.user_is_api = rng.random(n_users) < 0.12
        self.user_ids = [f"{'key' if a else 'user'}_{s}_{i}" for i, a in enumerate(self.user_is_api)]
        self.user_weights = _zipf(n_users, 1.1, rng)
        self.model_ids = [f"model_{s}_{i}" for i in range(models)]
        self.model_weights = _zipf(len(self.model_ids), 1.15, rng)
        self._rng = rng
        self.kind_names = list(KIND_NAMES)

    def team_projects_flat(self, team: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A uniformly chosen project of each row's team."""
        return self.proj_start[team] + (rng.random(len(team)) * self.proj_count[team]).astype(int)

    def kinds(self, act: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Index into ``kind_names`` of the asset each event created, -1 for none."""
        out = np.full(len(act), -1)
        for i, a in enumerate(ACTIONS):
            rows = np.nonzero(act == i)[0]
            names = [k for k, _ in a.kinds]
            pick = rng.choice(len(names), size=len(rows), p=[p for _, p in a.kinds])
            lookup = np.array([KIND_NAMES.index(k) if k else -1 for k in names])
            out[rows] = lookup[pick]
        return out

    def gross_cu(self, act: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Micro-CU before discount, on each action's price grid."""
        lo = np.array([a.cu[0] for a in ACTIONS])[act]
        hi = np.array([a.cu[1] for a in ACTIONS])[act]
        step = np.array([a.cu[2] for a in ACTIONS])[act]
        return lo + (rng.random(len(act)) * ((hi - lo) // step + 1)).astype(np.int64) * step

    def models_for(self, act: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A Zipf-chosen model for actions that run one, -1 otherwise."""
        uses = np.array([a.model for a in ACTIONS])[act]
        model = rng.choice(len(self.model_ids), size=len(act), p=self.model_weights)
        return np.where(uses, model, -1)

    def entities(self) -> dict[str, pa.Table]:
        """Teams, projects, users and models as entity tables."""
        rng = np.random.default_rng(0)  # names only; ids carry the seed
        users = [
            {"id": u, "fullName": None, "email": None, "isApiKey": bool(api)}
            for u, api in zip(self.user_ids, self.user_is_api, strict=True)
        ]
        for i, u in enumerate(users):
            if u["isApiKey"]:
                u["fullName"] = f"API key · {['ci-pipeline', 'batch-export', 'game-server', 'discord-bot'][i % 4]} {i}"
            else:
                first, last = _FIRST[rng.integers(len(_FIRST))], _LAST[rng.integers(len(_LAST))]
                u["fullName"] = f"{first} {last}"
                u["email"] = f"{first.lower()}.{last.lower()}{i}@example.com"
        models = []
        for i, m in enumerate(self.model_ids):
            noun = _NOUN[(i // len(_ADJ)) % len(_NOUN)]
            version = i // (len(_ADJ) * len(_NOUN)) + 1
            name = f"{_ADJ[i % len(_ADJ)]} {noun}" + (f" v{version}" if version > 1 else "")
            desc = f"A fine-tuned style model for {noun.lower()}."
            models.append({"id": m, "name": name, "shortDescription": desc})
        teams = [{"id": t, "name": n} for t, n in zip(self.team_ids, _TEAMS, strict=True)]
        projects = [
            {
                "id": p,
                "teamId": self.team_ids[self.project_team[i]],
                "name": f"{_NOUN[i % len(_NOUN)]} {_PHASES[i % 4]} {i}",
            }
            for i, p in enumerate(self.project_ids)
        ]
        rows = {"teams": teams, "projects": projects, "users": users, "models": models}
        return {k: _table(k, v) for k, v in rows.items()}


def _table(kind: str, rows: list[dict]) -> pa.Table:
    from usagelens.model import ENTITY_FIELDS

    cols = {f.column: [r.get(f.name) for r in rows] for f in ENTITY_FIELDS[kind]}
    return pa.table(cols).cast(ENTITY_SCHEMAS[kind])


def _zipf(n: int, s: float, rng: np.random.Generator) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1) ** s
    rng.shuffle(w)
    return w / w.sum()


def build_catalog(seed: int, users: int = 320, models: int = 420) -> Catalog:
    """The catalog of ``seed`` (cheap; rebuilt on demand)."""
    return Catalog(seed, users, models)
