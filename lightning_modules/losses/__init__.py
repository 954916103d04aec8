"""Pure loss functions: hinge (report eq. 1), 2C / C-SupCon (eq. 2-5), SupCon (Khosla et al.)."""

from lightning_modules.losses.adversarial import hinge_d, hinge_g
from lightning_modules.losses.contrastive import conditional_contrastive_loss
from lightning_modules.losses.supcon import supcon_loss

__all__ = ["hinge_d", "hinge_g", "conditional_contrastive_loss", "supcon_loss"]
