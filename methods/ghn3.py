"""GHN-3 (Knyazev, Hwang & Lacoste-Julien 2023, "Can We Scale Transformers to Predict Parameters
of Diverse ImageNet Models?"), on the frozen body's features.

GHN-3's mechanism: the target network is turned into its computation graph (one node per
operation, node features = the operation's type and its parameter shape, plus in/out-degree
embeddings); a Graphormer (transformer layers whose attention is biased by the shortest-path
distance between nodes) updates the node embeddings; a decoder maps each parametric node's
embedding to its parameter tensor (a fixed-size block tiled/sliced to the tensor's shape, with
a dedicated predictor for the classification layer). The GHN is trained by the loss of the
networks whose parameters it predicts, on the data; the predicted parameters are then used
directly or as an initialisation that is fine-tuned on the downstream task.

Here: the target network is the head on the frozen body (``linear``, or the 2-layer ``mlp``:
Linear -> ReLU -> Linear); its graph is traced with ``torch.fx``. GHN-3 has no task input, so a
GHN alone would predict the same head for every task; the Mc-Di paper evaluates it on few-shot
tasks, so (our adaptation) the task enters where a GHN meets the data: the graph's input node
gets the mean support embedding, and the classification-layer predictor (GHN-3's
``class_layer_predictor``) predicts class c's row from the node embedding and class c's support
mean, so rows follow the task's classes. Trained on meta-train episodes by the query
cross-entropy of the predicted head (the GHN objective, Adam); at test time the predicted head
is fine-tuned ``ft_steps`` Adam steps on the support set (GHN-3's use of predicted parameters as
an initialisation; the latency includes the steps; ``ft_steps=0`` gives the prediction alone).

Deviations (docs/methods.md): no ImageNet/DeepNets-1M training (the official checkpoints are
trained on ImageNet; none can be downloaded here) - the GHN is trained on the meta-train tasks;
small width (hid 64, 2 layers on cpu); the task conditioning above. A user with an official
checkpoint (``ghn3tm8.pt`` ... from huggingface.co/SamsungSAILMontreal/ghn3) and the official
``ghn3`` + ``ppuda`` packages can set ``official_checkpoint``: the official GHN then predicts the
head's initialisation (its output does not depend on the task) and the fine-tuning is the same.

Example:
    >>> g = head_graph("mlp", feat_dim=8, way=5, hidden=16)
    >>> [n.op for n in g.nodes], g.spd.shape
    (['input', 'linear', 'relu', 'linear', 'output'], torch.Size([5, 5]))
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from benchmark.config import ConfigError
from benchmark.models.heads import head_forward
from benchmark.seeding import derive_seed

from .base import FeatureMethod, StandardisedFeatures, class_means
from .trainers import PlainConfig, plain_train
from .inner_loop import batched_adam

OPS = ("input", "linear", "relu", "output", "other")
MAX_DIST = 8


@dataclass
class GraphNode:
    """One node of a :class:`ModuleGraph`: its operation and, for a parametric node, its weight
    shape and the head parameters it predicts.

    Example:
        >>> GraphNode("linear", (5, 8))
        GraphNode(op='linear', shape=(5, 8), param='')
    """

    op: str
    shape: tuple = ()          # weight shape of a parametric node (out, in)
    param: str = ""            # the head-parameter prefix it predicts ("" / "1" / "2": w{p}, b{p})


@dataclass
class ModuleGraph:
    """A head's computation graph as the GHN reads it (built by :func:`module_graph`).

    Example:
        >>> g = head_graph("linear", feat_dim=8, way=5)
        >>> len(g.nodes), g.classifier, g.deg_in.tolist(), g.spd.tolist()
        (3, 1, [0, 1, 1], [[0, 1, 2], [1, 0, 1], [2, 1, 0]])
    """

    nodes: list
    spd: torch.Tensor          # [N, N] shortest-path distances on the undirected graph, capped at MAX_DIST
    deg_in: torch.Tensor       # [N]
    deg_out: torch.Tensor      # [N]
    classifier: int            # index of the node that produces the logits


def module_graph(module: nn.Module, names: dict | None = None) -> ModuleGraph:
    """The computation graph of ``module`` (traced with ``torch.fx``): one node per
    placeholder, call_module/call_function and the output. ``names`` maps a submodule's name to
    the head-parameter suffix it holds (e.g. ``{"0": "1", "2": "2"}``).

    Example:
        >>> g = module_graph(nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3)), {"0": "1", "2": "2"})
        >>> [(n.op, n.shape, n.param) for n in g.nodes if n.op == "linear"], g.spd[0].tolist()
        ([('linear', (6, 4), '1'), ('linear', (3, 6), '2')], [0, 1, 2, 3, 4])
    """
    gm = torch.fx.symbolic_trace(module)
    mods = dict(gm.named_modules())
    nodes, index, edges = [], {}, []
    for fx in gm.graph.nodes:
        if fx.op == "placeholder":
            node = GraphNode("input")
        elif fx.op == "output":
            node = GraphNode("output")
        elif fx.op == "call_module" and isinstance(mods[fx.target], nn.Linear):
            lin = mods[fx.target]
            node = GraphNode("linear", (lin.out_features, lin.in_features), (names or {}).get(fx.target, ""))
        elif (fx.op == "call_module" and isinstance(mods[fx.target], nn.ReLU)) or fx.target in (F.relu, torch.relu):
            node = GraphNode("relu")
        else:
            node = GraphNode("other")
        index[fx.name] = len(nodes)
        nodes.append(node)
        for arg in fx.all_input_nodes:
            edges.append((index[arg.name], index[fx.name]))
    N = len(nodes)
    adj = [[] for _ in range(N)]
    for a, b in edges:
        adj[a].append(b)
        adj[b].append(a)
    spd = torch.full((N, N), MAX_DIST, dtype=torch.long)
    for s in range(N):                                     # BFS from every node
        spd[s, s], frontier, d = 0, [s], 0
        while frontier and d < MAX_DIST - 1:
            d += 1
            nxt = [v for u in frontier for v in adj[u] if spd[s, v] == MAX_DIST and v != s]
            for v in set(nxt):
                spd[s, v] = d
            frontier = list(set(nxt))
    deg_in = torch.tensor([sum(b == i for _, b in edges) for i in range(N)])
    deg_out = torch.tensor([sum(a == i for a, _ in edges) for i in range(N)])
    out = next(i for i, n in enumerate(nodes) if n.op == "output")
    classifier = next(a for a, b in edges if b == out)
    return ModuleGraph(nodes, spd, deg_in, deg_out, classifier)


def head_graph(kind: str, feat_dim: int, way: int, hidden: int = 64) -> ModuleGraph:
    """The graph of the head the harness generates (see :mod:`benchmark.models.heads`).

    Example:
        >>> g = head_graph("linear", feat_dim=8, way=5)
        >>> [n.op for n in g.nodes], g.nodes[g.classifier].shape
        (['input', 'linear', 'output'], (5, 8))
        >>> head_graph("conv", 8, 5)
        Traceback (most recent call last):
        ...
        benchmark.config.ConfigError: ghn3: unknown head 'conv'
    """
    if kind == "linear":
        return module_graph(nn.Sequential(nn.Linear(feat_dim, way)))      # a call_module node, not F.linear
    if kind == "mlp":
        mlp = nn.Sequential(nn.Linear(feat_dim, hidden), nn.ReLU(), nn.Linear(hidden, way))
        return module_graph(mlp, {"0": "1", "2": "2"})
    raise ConfigError(f"ghn3: unknown head {kind!r}")


def _bucket(n: int) -> int:
    return min(int(math.log2(max(n, 1))), 15)


class GraphormerLayer(nn.Module):
    """Pre-norm transformer layer over graph nodes whose attention logits get a learnt bias per
    shortest-path distance (Graphormer; GHN-3's layer).

    Example:
        >>> layer = GraphormerLayer(hid=8, heads=2)
        >>> layer(torch.randn(3, 5, 8), torch.zeros(2, 5, 5)).shape          # E = 3 tasks, N = 5 nodes
        torch.Size([3, 5, 8])
    """

    def __init__(self, hid: int, heads: int):
        super().__init__()
        self.heads = heads
        self.ln1, self.qkv, self.proj = nn.LayerNorm(hid), nn.Linear(hid, 3 * hid), nn.Linear(hid, hid)
        self.ln2 = nn.LayerNorm(hid)
        self.mlp = nn.Sequential(nn.Linear(hid, 2 * hid), nn.GELU(), nn.Linear(2 * hid, hid))

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """``x`` ``[E, N, hid]``, ``bias`` ``[heads, N, N]``."""
        E, N, hid = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(E, N, 3, self.heads, hid // self.heads).permute(2, 0, 3, 1, 4)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hid // self.heads) + bias, -1)   # [E, heads, N, N]
        x = x + self.proj((att @ v).transpose(1, 2).reshape(E, N, hid))
        return x + self.mlp(self.ln2(x))


class GraphHyperNetwork(nn.Module):
    """Predicts the head's parameters for a batch of tasks from the head's graph and the tasks'
    standardised class means ``protos`` ``[E, way, d]``. ``forward`` returns a head dict.

    Example:
        >>> net = GraphHyperNetwork(head_graph("mlp", 8, 5, hidden=16), feat_dim=8, hid=16, heads=2)
        >>> {k: tuple(v.shape) for k, v in net(torch.randn(3, 5, 8)).items()}
        {'w1': (3, 16, 8), 'b1': (3, 16), 'w2': (3, 5, 16), 'b2': (3, 5)}
    """

    def __init__(self, graph: ModuleGraph, feat_dim: int, hid: int = 64, heads: int = 4, layers: int = 2,
                 chunk: int = 8, gain_init: float = 0.0):
        super().__init__()
        self.graph, self.d, self.hid, self.chunk = graph, feat_dim, hid, chunk
        self.op_embed = nn.Embedding(len(OPS), hid)
        self.shape_embed = nn.ModuleList([nn.Embedding(16, hid), nn.Embedding(16, hid)])   # log2(out), log2(in)
        self.deg_embed = nn.ModuleList([nn.Embedding(8, hid), nn.Embedding(8, hid)])       # centrality in/out
        self.spd_bias = nn.Embedding(MAX_DIST + 1, heads)                                   # Graphormer attention bias
        self.task_embed = nn.Sequential(nn.Linear(feat_dim, hid), nn.SiLU(), nn.Linear(hid, hid))
        self.layers = nn.ModuleList([GraphormerLayer(hid, heads) for _ in range(layers)])
        self.ln = nn.LayerNorm(hid)
        # GHN-3's decoders: a tiled block for hidden layers, a class-layer predictor for the logits layer
        lin = [n for n in graph.nodes if n.op == "linear"]
        self.cls_in = graph.nodes[graph.classifier].shape[1]
        self.block_in = max([n.shape[1] for n in lin if n is not graph.nodes[graph.classifier]], default=1)
        self.block_decoder = nn.Sequential(nn.Linear(hid, 2 * hid), nn.SiLU(),
                                           nn.Linear(2 * hid, chunk * (self.block_in + 1)))
        self.class_decoder = nn.Sequential(nn.Linear(hid + feat_dim, 2 * hid), nn.SiLU(),
                                           nn.Linear(2 * hid, self.cls_in + 1))
        # w_c += gain * proto_c (aligned skip, as ICIS). It starts at 0 so that the untrained GHN is not
        # already a prototype classifier: what the row says is what the hypernetwork learnt
        self.gain = nn.Parameter(torch.tensor(float(gain_init)))
        ops = torch.tensor([OPS.index(n.op) for n in graph.nodes])
        shp = torch.tensor([[_bucket(n.shape[0]), _bucket(n.shape[1])] if n.shape else [0, 0] for n in graph.nodes])
        for name, v in dict(ops=ops, shp=shp, spd=graph.spd, deg_in=graph.deg_in.clamp(max=7),
                            deg_out=graph.deg_out.clamp(max=7)).items():
            self.register_buffer(name, v, persistent=False)

    def node_embeddings(self, protos: torch.Tensor) -> torch.Tensor:
        """``[E, N, hid]`` after the Graphormer layers."""
        x = (self.op_embed(self.ops) + self.shape_embed[0](self.shp[:, 0]) + self.shape_embed[1](self.shp[:, 1])
             + self.deg_embed[0](self.deg_in) + self.deg_embed[1](self.deg_out))
        data = F.pad(self.task_embed(protos.mean(1)).unsqueeze(1), (0, 0, 0, len(self.ops) - 1))   # [E, N, hid]
        x = x.unsqueeze(0) + data                                 # the data enters at the input node (node 0)
        bias = self.spd_bias(self.spd).permute(2, 0, 1)           # [heads, N, N]
        for layer in self.layers:
            x = layer(x, bias)
        return self.ln(x)

    def forward(self, protos: torch.Tensor) -> dict:
        E, way, d = protos.shape
        h = self.node_embeddings(protos)
        out = {}
        for i, node in enumerate(self.graph.nodes):
            if node.op != "linear":
                continue
            rows_n, cols = node.shape
            if i == self.graph.classifier:                            # one row per class, from its support mean
                rows = self.class_decoder(torch.cat([h[:, i:i + 1].expand(-1, way, -1), protos], -1))
                w, b = rows[..., :-1], rows[..., -1]
                if cols == d:                                         # a linear head reads the features
                    w = w + self.gain * protos
            else:                                                     # tiled block (GHN-2/3 tiling), fan-in scaled
                block = self.block_decoder(h[:, i]).view(E, self.chunk, self.block_in + 1)
                block = block.repeat(1, -(-rows_n // self.chunk), 1)[:, :rows_n]
                w, b = block[..., :cols] / math.sqrt(cols), block[..., -1]
            out["w" + node.param], out["b" + node.param] = w, b
        return out


def load_official_ghn3(path: str | Path):
    """An official GHN-3 checkpoint (``ghn3tm8.pt``, ``ghn3sm8.pt``, ``ghn3lm8.pt``, ``ghn3xlm16.pt``: a
    joblib-pickled state dict) built with the official ``ghn3`` code, without any download.

    Example:
        >>> import tempfile
        >>> load_official_ghn3(Path(tempfile.mkdtemp()) / "ghn3tm8.pt")
        Traceback (most recent call last):
        ...
        FileNotFoundError: ghn3: official checkpoint not found at .../ghn3tm8.pt
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ghn3: official checkpoint not found at {path}")
    try:
        import joblib
        from ghn3.nn import GHN3 as OfficialGHN3             # the official code (github.com/SamsungSAILMontreal/ghn3)
    except ImportError as e:
        raise ImportError("ghn3: loading an official checkpoint needs the official packages: "
                          "pip install git+https://github.com/facebookresearch/ppuda.git "
                          "git+https://github.com/SamsungSAILMontreal/ghn3.git joblib") from e
    sizes = {"ghn3t": (64, 8, 3), "ghn3s": (128, 16, 5), "ghn3l": (256, 16, 12), "ghn3xl": (384, 16, 24)}
    m = re.match(r"(ghn3xl|ghn3t|ghn3s|ghn3l)", path.name)
    if m is None:
        raise ConfigError(f"ghn3: cannot tell the GHN-3 size from the file name {path.name!r} "
                          f"(expected one of {', '.join(k + '*.pt' for k in sizes)})")
    hid, heads, layers = sizes[m.group(1)]
    ghn = OfficialGHN3(hid=hid, max_shape=(hid, hid, 16, 16), num_classes=1000, heads=heads, layers=layers,
                       weight_norm=True, ve=True, layernorm=True)
    state = joblib.load(path)
    ghn.load_state_dict({k: (v.squeeze() if "decoder." in k and v.dim() == 4 else v) for k, v in state.items()})
    return ghn.eval()


class GHN3(StandardisedFeatures, FeatureMethod):
    """GHN-3 as a registered method: a task-conditioned graph hypernetwork predicts the head, then
    ``ft_steps`` Adam steps on the support set (none on a transfer target).

    Example:
        >>> from methods import get_method
        >>> get_method("ghn3") is GHN3
        True
        >>> GHN3.DEFAULTS["cpu"]["ft_steps"], GHN3.DATASET_DEFAULTS["transfer"]["cpu"]
        (5, {'ft_steps': 0})
    """

    name = "ghn3"

    @property
    def ANY_WAY(self) -> bool:        # the class-layer predictor makes one row per class (linear head)
        return self.hp["head"] == "linear"
    paper = "Knyazev et al. 2023, Can We Scale Transformers to Predict Parameters of Diverse ImageNet Models? (GHN-3)"
    _hp = dict(head="linear", hid=64, heads=4, layers=2, chunk=8, meta_iters=300, meta_batch=8, lr=1e-3,
               ft_steps=5, ft_lr=0.005, official_checkpoint="", gain_init=0.0)
    DEFAULTS = {"smoke": dict(_hp, meta_iters=60, hid=32), "cpu": _hp,
                "paper": dict(_hp, hid=256, heads=16, layers=12, meta_iters=40000, meta_batch=16)}
    # Table 2 (transfer): "we do not use any labeled data to adjust the models" - the prediction alone
    DATASET_DEFAULTS = {"transfer": {p: dict(ft_steps=0) for p in ("smoke", "cpu", "paper")}}

    def validate(self):
        if self.hp["head"] not in ("linear", "mlp"):
            raise ConfigError(f"{self.name}: head must be 'linear' or 'mlp'")
        if self.hp["hid"] % self.hp["heads"]:
            raise ConfigError(f"{self.name}: hid={self.hp['hid']} must be divisible by heads={self.hp['heads']}")
        if self.hp["ft_steps"] < 0:
            raise ConfigError(f"{self.name}: ft_steps must be >= 0")

    def _build(self, d: int) -> None:
        torch.manual_seed(derive_seed(self.ctx.seed, "ghn3-init") % 2 ** 31)
        hp = self.hp
        graph = head_graph(hp["head"], d, self.ctx.way)
        self.net = GraphHyperNetwork(graph, d, hp["hid"], hp["heads"], hp["layers"], hp["chunk"],
                                     hp["gain_init"]).to(self.ctx.device)

    def meta_train(self) -> None:
        ctx, hp = self.ctx, self.hp
        feats = self._fit_std(ctx.features("train"))
        self._build(feats.shape[1])
        if hp["official_checkpoint"]:
            self.official = load_official_ghn3(hp["official_checkpoint"])
            return                                                   # nothing to train: the official GHN predicts
        sampler, B, way = ctx.train_sampler(), hp["meta_batch"], ctx.way

        def draw(it):
            eps = sampler.episodes(B, start=it * B)
            sy = torch.stack([e.support_labels for e in eps])
            data = (class_means(feats[torch.stack([e.support for e in eps])], sy.to(ctx.device), way),
                    feats[torch.stack([e.query for e in eps])], torch.stack([e.query_labels for e in eps]))
            data = tuple(x.to(ctx.device) for x in data)
            return (lambda s: data), None

        def loss(p, protos, qf, qy):                                 # GHN objective: loss of the predicted head
            head = {k: v[0] for k, v in functional_call(self.net, p, (protos.unsqueeze(0),)).items()}
            return F.cross_entropy(head_forward(hp["head"], head, qf), qy)

        plain_train(self.net, loss, draw, PlainConfig(iters=hp["meta_iters"], lr=hp["lr"]), ctx.progress,
                    f"{self.name} train", select=self.selector, store=ctx.store)
        self.net.eval()

    def _predict(self, protos: torch.Tensor) -> dict:
        if getattr(self, "official", None) is None:
            return self.net(protos)
        head = nn.Linear(protos.shape[-1], protos.shape[1]).to(protos.device)
        with torch.no_grad():
            self.official(head, predict_class_layers=True)
        return {"w": head.weight.detach().expand(len(protos), -1, -1), "b": head.bias.detach().expand(len(protos), -1)}

    def adapt_features(self, sf, sy, way):
        sf = self._std(sf)
        head = self._predict(class_means(sf, sy, way))
        if self.hp["ft_steps"] == 0:
            return head
        kind = self.hp["head"]
        ce = lambda p, x, y: F.cross_entropy(head_forward(kind, p, x), y)
        with torch.enable_grad():
            return batched_adam(ce, head, lambda s: (sf, sy), self.hp["ft_steps"], self.hp["ft_lr"])

    @torch.no_grad()
    def predict_features(self, head, qf):
        return head_forward(self.hp["head"], head, self._std(qf))

    def state_dict(self):
        return {"net": self.net.state_dict(), "f_mean": self.f_mean, "f_std": self.f_std}

    def load_state_dict(self, state):
        self.f_mean, self.f_std = state["f_mean"], state["f_std"]
        self._build(len(self.f_mean))
        if self.hp["official_checkpoint"]:
            self.official = load_official_ghn3(self.hp["official_checkpoint"])
        self.net.load_state_dict(state["net"])
        self.net.eval()
