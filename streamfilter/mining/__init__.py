"""Mining training clips of sharp, moving faces from videos (Chrysos et al., section 4).

Two passes per video: :mod:`.scan` decodes it once and measures every frame (face track,
detector agreement, landmark-fit checks, motion, sharpness); :mod:`.select` turns the
measurements into kept segments and counted rejection reasons; :mod:`.write` re-encodes each
kept segment as its own clip with a landmarks JSON beside it. :func:`.run.mine_videos` ties
the passes together and writes ``mining.json``.
"""

from .config import MiningConfig
from .run import mine_videos

__all__ = ["MiningConfig", "mine_videos"]
