"""The simulated provider account (`World`) the sandbox provider and the emulators share.

It is part of the product, not of the test tooling: `type: sandbox` keeps a World on local
disk, and every emulator in `numbers_iac.emulators` serves one over its provider's wire format.
"""

from numbers_iac.simulation.world import (
    AvailableNumber,
    NotForSale,
    NotOwned,
    NumberGroup,
    OutOfStock,
    ReservationExpired,
    UnknownApp,
    UnknownRegion,
    World,
    WorldError,
    WorldNumber,
)

__all__ = [
    "AvailableNumber",
    "NotForSale",
    "NotOwned",
    "NumberGroup",
    "OutOfStock",
    "ReservationExpired",
    "UnknownApp",
    "UnknownRegion",
    "World",
    "WorldError",
    "WorldNumber",
]
