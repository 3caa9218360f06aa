"""The Python PyTorch reference for `agora bench train`: the network of Agora's `rec.sasrec`
(pre-norm SASRec, full cross-entropy over the catalogue at every real position, output tied to
the item embeddings, the same initialisation, AdamW with a one-epoch linear warm-up and cosine
decay) trained on an S3-Rec
file's leave-one-out training split, then scored by full ranking on the test items. It trains the
first --epochs epochs of a --schedule-epochs schedule (by default the whole of an --epochs one);
with --target-ndcg it scores the test items after every epoch and reports the first epoch whose
NDCG@10 reaches the target and the training seconds until then.

--padding fixed pads every batch to max_length, as public SASRec code does (the reference);
--padding dynamic pads to the longest sequence of the batch, as Agora does.

Prints one JSON object: sequences, epochs, fit seconds (training only), per-epoch losses, test
HR@10 / NDCG@10, and with --target-ndcg the NDCG@10 after each epoch and when it reached the target.

    python benches/sasrec_torch.py --data ../shared/data/s3rec-amazon/Beauty.txt --epochs 3 --threads 2
"""

import argparse
import json
import math
import random
import time

import torch
import torch.nn.functional as F
from torch import nn


def read(path):
    sequences = []
    with open(path) as lines:
        for line in lines:
            parts = line.split()
            if parts:
                sequences.append([int(item) - 1 for item in parts[1:]])
    return sequences


class Block(nn.Module):
    def __init__(self, hidden, heads, dropout):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.attention_norm = nn.LayerNorm(hidden)
        self.query, self.key, self.value, self.output = (nn.Linear(hidden, hidden) for _ in range(4))
        self.feed_norm = nn.LayerNorm(hidden)
        self.feed_in, self.feed_out = nn.Linear(hidden, hidden), nn.Linear(hidden, hidden)

    def forward(self, x, blocked, keep):
        batch, length, hidden = x.shape
        width = hidden // self.heads
        h = self.attention_norm(x)

        def split(t):
            return t.view(batch, length, self.heads, width).transpose(1, 2)

        query, key, value = split(self.query(h)), split(self.key(h)), split(self.value(h))
        weights = (query @ key.transpose(-2, -1) / math.sqrt(width)).masked_fill(blocked, -1e9).softmax(-1)
        weights = F.dropout(weights, self.dropout, self.training)
        attended = (weights @ value).transpose(1, 2).contiguous().view(batch, length, hidden)
        x = x + F.dropout(self.output(attended), self.dropout, self.training)
        fed = self.feed_out(F.dropout(F.gelu(self.feed_in(self.feed_norm(x))), self.dropout, self.training))
        return (x + F.dropout(fed, self.dropout, self.training)) * keep


class SasRec(nn.Module):
    def __init__(self, n_items, hidden, blocks, heads, max_length, dropout):
        super().__init__()
        self.hidden, self.dropout, self.n_items = hidden, dropout, n_items
        self.items = nn.Embedding(n_items + 1, hidden, padding_idx=0)
        self.positions = nn.Embedding(max_length, hidden)
        nn.init.normal_(self.items.weight, 0.0, 0.02)
        nn.init.normal_(self.positions.weight, 0.0, 0.02)
        self.blocks = nn.ModuleList(Block(hidden, heads, dropout) for _ in range(blocks))
        self.norm = nn.LayerNorm(hidden)
        # Agora's linear layers start as tch's do: Kaiming-uniform for ReLU, a bound of
        # sqrt(6 / fan_in), where PyTorch's nn.Linear default is 1 / sqrt(fan_in). Biases start
        # alike on both sides.
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.kaiming_uniform_(module.weight, nonlinearity="relu")

    def forward(self, rows):
        batch, length = rows.shape
        padding = rows.eq(0)
        keep = (~padding).unsqueeze(-1).float()
        positions = torch.arange(length - 1, -1, -1)
        x = self.items(rows) * math.sqrt(self.hidden) + self.positions(positions).unsqueeze(0)
        x = F.dropout(x, self.dropout, self.training) * keep
        future = torch.ones(length, length, dtype=torch.bool).triu(1)
        blocked = (future.unsqueeze(0) | padding.unsqueeze(1)).unsqueeze(1)
        for block in self.blocks:
            x = block(x, blocked, keep)
        return self.norm(x)

    def item_embeddings(self):
        return self.items.weight[1:]


def padded(histories, max_length, width):
    rows = torch.zeros(len(histories), width, dtype=torch.long)
    for row, history in enumerate(histories):
        kept = history[-max_length:]
        if kept:
            rows[row, width - len(kept):] = torch.tensor(kept) + 1
    return rows


def score(model, sequences, max_length):
    """Test HR@10 and NDCG@10 by full ranking: each history but its last item predicts that item."""
    model.eval()
    cases = [(s[:-1], s[-1]) for s in sequences if len(s) >= 2]
    hits = gain = 0.0
    with torch.no_grad():
        for at in range(0, len(cases), 256):
            chunk = cases[at:at + 256]
            histories = [history for history, _ in chunk]
            width = max(min(len(h), max_length) for h in histories)
            scores = model(padded(histories, max_length, width))[:, -1] @ model.item_embeddings().t()
            for row, (history, target) in enumerate(chunk):
                row_scores = scores[row]
                row_scores[torch.tensor(history)] = float("-inf")
                rank = int((row_scores > row_scores[target]).sum())
                if rank < 10:
                    hits += 1
                    gain += 1 / math.log2(rank + 2)
    return hits / len(cases), gain / len(cases)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--schedule-epochs", type=int, help="the learning-rate schedule's length (default: --epochs)")
    parser.add_argument("--target-ndcg", type=float, help="score the test items after every epoch against this NDCG@10")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--blocks", type=int, default=2)
    parser.add_argument("--heads", type=int, default=1)
    parser.add_argument("--max-length", type=int, default=50)
    parser.add_argument("--dropout", type=float, default=0.2)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--padding", choices=["fixed", "dynamic"], default="fixed")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)

    sequences = read(args.data)
    n_items = max(max(s) for s in sequences if s) + 1
    # Agora's test split: every history but its last item trains.
    train = [s[:-1][-(args.max_length + 1):] for s in sequences if len(s) - 1 >= 2]
    model = SasRec(n_items, args.hidden, args.blocks, args.heads, args.max_length, args.dropout)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    steps_per_epoch = math.ceil(len(train) / args.batch_size)
    schedule_epochs = args.schedule_epochs or args.epochs
    if not 1 <= args.epochs <= schedule_epochs:
        parser.error(f"--epochs must be between 1 and --schedule-epochs ({schedule_epochs})")
    total = steps_per_epoch * schedule_epochs

    def schedule(step):
        return min((step + 1) / steps_per_epoch, 1.0) * 0.5 * (1.0 + math.cos(math.pi * step / total))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    losses, fit_seconds, ndcg_per_epoch, reached = [], 0.0, [], None
    order = list(range(len(train)))
    for epoch in range(1, args.epochs + 1):
        random.shuffle(order)
        model.train()
        started, total_loss = time.perf_counter(), 0.0
        for at in range(0, len(order), args.batch_size):
            batch = [train[i] for i in order[at:at + args.batch_size]]
            inputs, targets = [s[:-1] for s in batch], [s[1:] for s in batch]
            width = args.max_length if args.padding == "fixed" else max(min(len(s), args.max_length) for s in inputs)
            rows, target_rows = padded(inputs, args.max_length, width), padded(targets, args.max_length, width).view(-1)
            real = target_rows.ne(0).nonzero().squeeze(1)
            hidden = model(rows).view(-1, args.hidden).index_select(0, real)
            loss = F.cross_entropy(hidden @ model.item_embeddings().t(), target_rows.index_select(0, real) - 1)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            total_loss += loss.item()
        fit_seconds += time.perf_counter() - started
        losses.append(total_loss / steps_per_epoch)
        if args.target_ndcg is not None:
            hr10, ndcg10 = score(model, sequences, args.max_length)
            ndcg_per_epoch.append(ndcg10)
            if reached is None and ndcg10 >= args.target_ndcg:
                reached = {"epoch": epoch, "fit_seconds": fit_seconds}

    if args.target_ndcg is None:
        hr10, ndcg10 = score(model, sequences, args.max_length)
    print(json.dumps({
        "padding": args.padding,
        "sequences": len(train),
        "epochs": args.epochs,
        "schedule_epochs": schedule_epochs,
        "fit_seconds": fit_seconds,
        "training_loss": losses,
        "hr10": hr10,
        "ndcg10": ndcg10,
        "ndcg10_per_epoch": ndcg_per_epoch,
        "reached_published": reached,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }))


if __name__ == "__main__":
    main()
