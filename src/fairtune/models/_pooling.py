"""A BERT classifier that reads the mean of the last layer's token states instead of the [CLS] pooler.

Sentence encoders such as the packaged all-MiniLM-L6-v2 were trained mean-pooled: their [CLS] vector was
never trained to summarise the text, and BERT's pooler on top of it is whatever the checkpoint left
there. A linear head on the frozen model's mean-pooled states reaches 80.2% on SST-2 dev from 8,000
training texts, against 75.6% on the [CLS] vector (`bench/dp_ceiling.py`), so fine-tuning, and above all
DP fine-tuning, starts from better features (`model.pooling: mean`).

The class is `BertForSequenceClassification` with the pooler removed and `forward` pooling by the
attention mask. Its folders are ordinary Hugging Face folders (safetensors, config.json); the config
carries `fairtune_pooling: "mean"`, which `classifier_class` reads to load them with this class.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import BertForSequenceClassification
from transformers.loss.loss_utils import ForSequenceClassificationLoss
from transformers.modeling_outputs import SequenceClassifierOutput

#: config.json attribute that marks a mean-pooled classifier folder.
POOLING_ATTR = "fairtune_pooling"
#: `config.model_type`s that `model.pooling: mean` supports.
MEAN_POOLING_TYPES = ("bert",)


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
    """Mean of `hidden` (batch, tokens, dim) over the tokens the mask keeps (all if no mask)."""
    if attention_mask is None:
        return hidden.mean(dim=1)
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)


class BertForMeanPooledSequenceClassification(BertForSequenceClassification):
    """`BertForSequenceClassification` whose head reads the masked mean of the last hidden states."""

    _keys_to_ignore_on_load_unexpected = [r"pooler"]  # noqa: RUF012 (declared so by PreTrainedModel)

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.bert.pooler = None  # unused: trained by no one, it would only get DP noise and gradients
        setattr(config, POOLING_ATTR, "mean")

    def forward(  # type: ignore[override]
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> SequenceClassifierOutput:
        kwargs.pop("return_dict", None)
        outputs = self.bert(
            input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            position_ids=position_ids,
            inputs_embeds=inputs_embeds,
            return_dict=True,
            **kwargs,
        )
        pooled = mean_pool(outputs.last_hidden_state, attention_mask)
        logits = self.classifier(self.dropout(pooled))
        loss = None if labels is None else ForSequenceClassificationLoss(labels, logits, self.config)
        return SequenceClassifierOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )


def classifier_class(config: Any) -> Any:
    """The class that loads a classifier folder with this `config`: the mean-pooled BERT class if the
    config says so, else `AutoModelForSequenceClassification`."""
    from transformers import AutoModelForSequenceClassification

    if getattr(config, POOLING_ATTR, "cls") == "mean":
        return BertForMeanPooledSequenceClassification
    return AutoModelForSequenceClassification
