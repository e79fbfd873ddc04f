"""``pi05``: a PaliGemma-style VLM prefix and a flow-matching action expert (π0.5's layout).

Built on ``transformers``' π0 implementation (``PI0ForConditionalGeneration``): SigLIP vision
tower and Gemma decoder read ``[image tokens, instruction]``; a narrower Gemma *action expert*
with the same depth and heads attends to the prefix's key/value cache and, bidirectionally, to
the robot state token and the ``H`` noisy actions; a linear layer reads out the velocity.
Differences from the real π0.5, kept small on purpose: the state enters as one continuous
token (π0.5 discretises it into the prompt) and time is added to the action tokens (π0.5
modulates the expert's norms). Sampling is Euler (deterministic) or the flow-SDE
(:mod:`ptrim.models.flow`); RL freezes the VLM and trains the expert.
"""

from __future__ import annotations

import torch
from transformers import PaliGemmaConfig, PI0Config, PI0ForConditionalGeneration

from ptrim.models import flow
from ptrim.models.blocks import gemma_config, vision_config
from ptrim.models.policy import FlowPolicy
from ptrim.models.spec import ModelSpec
from ptrim.models.tokenizer import IMAGE_ID, InstructionTokenizer


class Pi05(FlowPolicy):
    family = "pi05"

    def __init__(self, spec: ModelSpec, tokenizer: InstructionTokenizer | None = None) -> None:
        super().__init__(spec, tokenizer)
        vocab = self.tokenizer.vocab_size
        text = gemma_config(spec, vocab)
        self.image_token = IMAGE_ID  # π0 swaps these placeholder ids for image features
        vlm = PaliGemmaConfig(
            vision_config=vision_config(spec),
            text_config=text,
            image_token_id=self.image_token,
            projection_dim=text.hidden_size,
            vocab_size=vocab,
        )
        expert = gemma_config(spec, vocab_size=8, width=spec.sizes.head_width)
        self.pi0 = PI0ForConditionalGeneration(
            PI0Config(
                vlm_config=vlm,
                dit_config=expert,
                chunk_size=spec.plan_horizon,
                max_state_dim=spec.proprio_dim,
                max_action_dim=spec.action_dim,
                num_inference_steps=spec.denoise_steps,
            )
        )

    # ----------------------------------------------------------------- prefix
    def _inputs(self, enc: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """π0's input layout: image placeholder ids then the instruction, one mask over both."""
        B, C = enc["px"].shape[:2]
        n_img = C * self.spec.image_tokens
        img_ids = torch.full((B, n_img), self.image_token, device=enc["ids"].device)
        ones = torch.ones(B, n_img, dtype=enc["text_mask"].dtype, device=enc["ids"].device)
        return {
            "input_ids": torch.cat([img_ids, enc["ids"]], dim=1),
            "attention_mask": torch.cat([ones, enc["text_mask"]], dim=1),
            "pixel_values": enc["px"],
            "pixel_attention_mask": torch.ones(B, C, dtype=torch.bool, device=enc["px"].device),
        }

    def velocity_field(self, enc: dict[str, torch.Tensor]) -> flow.Velocity:
        """Run the VLM once; return ``v(x, t)`` that reuses its key/value cache."""
        inp = self._inputs(enc)
        model = self.pi0.model
        embeds = model.embed_prefix(
            inp["input_ids"], inp["pixel_values"], inp["pixel_attention_mask"]
        )
        mask = inp["attention_mask"]
        cache = model.vlm(
            inputs_embeds=embeds,
            attention_mask=mask,
            position_ids=mask.cumsum(-1) - 1,
            token_type_ids=torch.zeros_like(mask),
            use_cache=True,
        ).cache
        prefix = cache.get_seq_length()

        def velocity(x: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
            time = torch.as_tensor(t, dtype=torch.float32, device=x.device).expand(x.shape[0])
            out = self.pi0(
                state=enc["proprio"], noise=x, timestep=time, attention_mask=mask, cache=cache
            )
            cache.crop(
                prefix - cache.get_seq_length()
            )  # the expert's tokens must not pile up in the prefix cache
            return out.logits

        return velocity

    def trainable_in_rl(self) -> list[torch.nn.Parameter]:
        """The action expert (and its in/out projections); the VLM stays frozen."""
        vlm = {id(p) for p in self.pi0.model.vlm.parameters()}
        return [p for p in self.parameters() if p.requires_grad and id(p) not in vlm]
