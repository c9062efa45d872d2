"""Sharpness-Aware Minimisation (Foret et al.), as POSTER trains: ascend to the worst nearby weights, take the
gradient there, step from the original weights."""

from __future__ import annotations

import torch


class SAM(torch.optim.Optimizer):
    def __init__(self, params, base_optimizer, rho: float = 0.05, **kwargs):
        super().__init__(params, dict(rho=rho, **kwargs))
        self.base_optimizer = base_optimizer(self.param_groups, **kwargs)
        self.param_groups = self.base_optimizer.param_groups

    @torch.no_grad()
    def first_step(self) -> None:
        grads = [p.grad.norm(2) for g in self.param_groups for p in g["params"] if p.grad is not None]
        scale_norm = torch.norm(torch.stack(grads), 2) + 1e-12
        for g in self.param_groups:
            for p in g["params"]:
                if p.grad is None:
                    continue
                e = p.grad * (g["rho"] / scale_norm)
                p.add_(e)
                self.state[p]["e_w"] = e
        self.zero_grad(set_to_none=True)

    @torch.no_grad()
    def second_step(self) -> None:
        for g in self.param_groups:
            for p in g["params"]:
                if "e_w" in self.state[p]:
                    p.sub_(self.state[p]["e_w"])
        self.base_optimizer.step()

    def step(self, closure=None):  # plain step when used without the two-phase calls
        return self.base_optimizer.step(closure)
