"""GanDDPStrategy: DDP for the GAN with G and D wrapped separately (issue 15).

Lightning's `ddp` wraps the whole LightningModule in one DistributedDataParallel. The GAN's D
step leaves G without gradients (and the G step leaves D's parameters, switched off by
`toggled_optimizer`, without them), so plain `ddp` dies at the first step ("parameters that
were not used in producing the loss") and `ddp_find_unused_parameters_true` walks the autograd
graph after every backward and all-reduces both networks' gradients every step.

This strategy keeps the LightningModule unwrapped and gives it `ddp_nets = (DDP(G), DDP(D))`
(a plain tuple: not submodules, so checkpoint keys do not change). FoleyGANModule runs the
network it trains through its wrapper (D in the D step, G in the G step) and the other one
plain (G under no_grad in the D step; D with frozen parameters in the G step), so each backward
all-reduces exactly the trained network's gradients, every one of them used:
`find_unused_parameters=False` (with `loss="hinge"` D's contrastive head and proxies, which no
loss uses, are left out of the all-reduce). The contrastive loss's `all_gather(sync_grads=True)` is
unaffected. With one process it wraps nothing and runs like the single-device strategy, so one
trainer file serves 1 and N devices; other modules (the encoder) fall back to Lightning's DDP
with the unused-parameter search.
"""

from __future__ import annotations

from pytorch_lightning.overrides.distributed import _sync_module_states
from pytorch_lightning.strategies import DDPStrategy
from torch.nn.parallel import DistributedDataParallel


class GanDDPStrategy(DDPStrategy):
    """DDP with the GAN's generator and discriminator each in its own DistributedDataParallel.

    Takes DDPStrategy's arguments. A module with `generator`, `discriminator` and `ddp_nets`
    (FoleyGANModule) gets the two wrappers; any other module (the SupCon encoder under the same
    trainer file) Lightning's whole-module DDP with `find_unused_parameters=True`.
    """

    strategy_name = "gan_ddp"

    def configure_ddp(self) -> None:
        module = self.model
        if self.world_size == 1:  # nothing to reduce: run like the single-device strategy
            return
        if not all(hasattr(module, name) for name in ("generator", "discriminator", "ddp_nets")):
            # another module (the SupCon encoder): Lightning's DDP with the unused-parameter search
            self._ddp_kwargs = {**self._ddp_kwargs, "find_unused_parameters": True}
            super().configure_ddp()
            return
        _sync_module_states(module)  # EMA, normaliser, counters: rank 0's copy everywhere
        if getattr(module, "criterion", True) is None:  # loss="hinge": D's l_C head is unused
            unused = [f"{name}.{key}" for name in ("head", "proxy")
                      for key, _ in getattr(module.discriminator, name).named_parameters()]
            DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(
                module.discriminator, unused)
        device_ids = self.determine_ddp_device_ids()
        module.ddp_nets = tuple(
            DistributedDataParallel(getattr(module, name), device_ids=device_ids,
                                    **self._ddp_kwargs)
            for name in ("generator", "discriminator")
        )

    def teardown(self) -> None:
        module = self.lightning_module
        if module is not None and getattr(module, "ddp_nets", None) is not None:
            module.ddp_nets = None
        super().teardown()
