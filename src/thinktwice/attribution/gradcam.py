"""Grad-CAM (Selvaraju et al., 2017) on the last spatial feature map."""

from __future__ import annotations

import torch

from thinktwice.attribution.base import Attribution, AttributionMethod, target_scores
from thinktwice.cam import class_activation_map
from thinktwice.errors import ModelError
from thinktwice.hooks.install import frozen_parameters
from thinktwice.hooks.sites import SiteCache
from thinktwice.models.classifier import Classifier


class GradCAM(AttributionMethod):
    """``relu(sum_k mean(dS/dA_k) A_k)`` at the model's Grad-CAM layer, upsampled bilinearly.

    The layer is ``model.gradcam_layer`` when set, else the last activation or
    pool whose output is still a spatial map (found when the method is built).
    """

    name = "gradcam"
    label = "Grad-CAM"
    order = 40

    def __init__(self, model: Classifier, *, device: str | torch.device | None = None):
        super().__init__(model, device=device)
        self.layer = self.model.gradcam_layer or last_spatial_site(self.model, self.probe())

    def _attribute(self, inputs: torch.Tensor, targets: torch.Tensor) -> Attribution:
        cam, scores = grad_cam(self.model, self.layer, inputs, targets)
        return Attribution(
            saliency=cam,
            template=None,
            scores=scores.unsqueeze(0),
            targets=targets,
            method=self.name,
            details={"layer": self.layer},
        )


def grad_cam(
    model: torch.nn.Module, layer_name: str, inputs: torch.Tensor, targets: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(Grad-CAM maps [N, H, W] at the input size, target scores [N]) of ``model`` as it
    runs now (with whatever gates or rules are installed on it)."""
    layer = dict(model.named_modules())[layer_name]
    captured: list[torch.Tensor] = []

    def start_graph_here(_module, _inputs, output: torch.Tensor) -> torch.Tensor:
        # Grad-CAM needs dS/dA only: the graph can start at the layer's output.
        captured.append(output.detach().requires_grad_(True))
        return captured[-1]

    with frozen_parameters(model):  # holds the model's lock while the hook is in
        handle = layer.register_forward_hook(start_graph_here)
        try:
            with torch.enable_grad():
                scores = target_scores(model(inputs), targets)
                if not captured:
                    raise ModelError(f"gradcam: layer {layer_name!r} is not used in the forward")
                (grads,) = torch.autograd.grad(scores.sum(), captured[-1])
        finally:
            handle.remove()
    activations = captured[-1].detach()
    if activations.dim() != 4:
        raise ModelError(
            f"gradcam: layer {layer_name!r} gives {tuple(activations.shape)}, not a "
            "[N, C, H, W] feature map; choose another gradcam_layer"
        )
    return class_activation_map(activations, grads, inputs.shape[-2:]), scores.detach()


def last_spatial_site(model: Classifier, probe: torch.Tensor) -> str:
    """The last activation or pool whose output is still a spatial map: Grad-CAM's
    default layer."""
    spatial = [
        s
        for s in SiteCache(model).sites(probe)  # surveyed once per model and shape
        if len(s.shape) == 3 and s.shape[1] * s.shape[2] > 1
    ]
    if not spatial:
        raise ModelError(
            "gradcam: no activation or max-pool module with a spatial output; name the "
            "feature layer with thinktwice.wrap(..., gradcam_layer='...')"
        )
    return spatial[-1].name
