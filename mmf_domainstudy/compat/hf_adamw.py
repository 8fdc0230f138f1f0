"""The AdamW that MMF rc10 registered as ``adam_w``: transformers 2.x's algorithm.

It differs from ``torch.optim.AdamW`` in two ways that change numbers a user
compares with the paper: ``eps`` is added to the *uncorrected* ``sqrt(v)``
(folded into the step size), and weight decay is applied after the Adam step,
to the updated weights. Defaults are transformers 2.x's (eps 1e-6, no decay).

``foreach`` (default on) runs the same update with multi-tensor ``torch._foreach_*``
ops: on CUDA a handful of kernel launches per step for all tensors instead of about
ten per tensor. On CPU both paths are bit-identical; on CUDA they agree to float
rounding. tests/test_compat.py pins both paths to transformers 2.x's numbers.
"""
import math

import torch


class HFAdamW(torch.optim.Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.0, correct_bias=True, foreach=True):
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr} - should be >= 0.0")
        if not 0.0 <= betas[0] < 1.0 or not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameters: {betas} - each should be in [0.0, 1.0)")
        if eps < 0.0:
            raise ValueError(f"Invalid epsilon value: {eps} - should be >= 0.0")
        if not isinstance(foreach, bool):  # rc10 reads a command-line `false` as the string "false"
            raise ValueError(f"optimizer.params.foreach={foreach!r}: set True or False")
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, correct_bias=correct_bias)
        super().__init__(params, defaults)
        # an attribute, not a group default: checkpoints keep transformers 2.x's layout
        self.foreach = foreach

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [param for param in group["params"] if param.grad is not None]
            if any(param.grad.is_sparse for param in params):
                raise RuntimeError("AdamW does not support sparse gradients; use SparseAdam")
            if self.foreach:
                self._update_all(params, group)
            else:
                for param in params:
                    self._update(param, group)
        return loss

    def _advance(self, param):
        """The parameter's state, one step on."""
        state = self.state[param]
        if not state:
            state["step"] = 0
            state["exp_avg"] = torch.zeros_like(param)
            state["exp_avg_sq"] = torch.zeros_like(param)
        state["step"] += 1
        return state

    def _update(self, param, group):
        """One tensor: transformers 2.x's AdamW.step body."""
        beta1, beta2 = group["betas"]
        grad, state = param.grad, self._advance(param)
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        exp_avg.mul_(beta1).add_(grad, alpha=1.0 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1.0 - beta2)
        denom = exp_avg_sq.sqrt().add_(group["eps"])
        param.addcdiv_(exp_avg, denom, value=-_step_size(group, state["step"]))
        if group["weight_decay"] > 0.0:
            param.add_(param, alpha=-group["lr"] * group["weight_decay"])

    def _update_all(self, params, group):
        """All of a group's tensors at once: the same ops, in the same order, as _update."""
        if not params:
            return
        beta1, beta2 = group["betas"]
        grads = [param.grad for param in params]
        states = [self._advance(param) for param in params]
        exp_avgs = [state["exp_avg"] for state in states]
        exp_avg_sqs = [state["exp_avg_sq"] for state in states]
        torch._foreach_mul_(exp_avgs, beta1)
        torch._foreach_add_(exp_avgs, grads, alpha=1.0 - beta1)
        torch._foreach_mul_(exp_avg_sqs, beta2)
        torch._foreach_addcmul_(exp_avg_sqs, grads, grads, value=1.0 - beta2)
        denoms = torch._foreach_sqrt(exp_avg_sqs)
        torch._foreach_add_(denoms, group["eps"])
        torch._foreach_addcdiv_(params, exp_avgs, denoms, [-_step_size(group, state["step"]) for state in states])
        if group["weight_decay"] > 0.0:
            torch._foreach_add_(params, params, alpha=-group["lr"] * group["weight_decay"])


def _step_size(group, step):
    """lr with the bias corrections folded in (eps then applies to the uncorrected sqrt(v))."""
    beta1, beta2 = group["betas"]
    if not group["correct_bias"]:
        return group["lr"]
    return group["lr"] * math.sqrt(1.0 - beta2**step) / (1.0 - beta1**step)
