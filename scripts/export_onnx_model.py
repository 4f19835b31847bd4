"""Export a sentence-transformer (e.g. all-MiniLM-L6-v2) to a folder Paperboy loads with
``PAPERBOY_EMBEDDINGS=<folder>``: ``model.onnx`` (token vectors out) and ``tokenizer.json``.

Needs PyTorch and transformers, which Paperboy itself does not (``pip install torch
transformers onnx``); run it once, anywhere, and copy the folder over. ``SOURCE`` is a local
model folder, or a Hugging Face name when the machine has network:

    python scripts/export_onnx_model.py sentence-transformers/all-MiniLM-L6-v2 models/minilm
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

INPUTS = ["input_ids", "attention_mask", "token_type_ids"]


def export(source: str, folder: Path) -> None:
    import torch
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(source).eval()
    tokenizer = AutoTokenizer.from_pretrained(source)

    class TokenVectors(torch.nn.Module):
        """The model's last hidden state: Paperboy pools it over the attention mask."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(
            self, input_ids: object, attention_mask: object, token_type_ids: object
        ) -> object:
            out = self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )
            return out.last_hidden_state

    folder.mkdir(parents=True, exist_ok=True)
    ids = torch.ones(2, 16, dtype=torch.long)
    axes = {name: {0: "batch", 1: "tokens"} for name in [*INPUTS, "last_hidden_state"]}
    torch.onnx.export(
        TokenVectors(),
        (ids, ids, torch.zeros_like(ids)),
        str(folder / "model.onnx"),
        input_names=INPUTS,
        output_names=["last_hidden_state"],
        dynamic_axes=axes,
        opset_version=17,
        dynamo=False,
    )
    saved = Path(tokenizer.save_pretrained(str(folder / "tokenizer"))[0]).parent
    shutil.move(str(saved / "tokenizer.json"), folder / "tokenizer.json")
    shutil.rmtree(saved)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("source", help="a local model folder or a Hugging Face model name")
    parser.add_argument("folder", type=Path, help="where model.onnx and tokenizer.json go")
    args = parser.parse_args()
    export(args.source, args.folder)
    print(f"wrote {args.folder / 'model.onnx'} and {args.folder / 'tokenizer.json'}")


if __name__ == "__main__":
    main()
