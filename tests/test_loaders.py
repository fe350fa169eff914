"""The loaders of datasets not at hand, each on tiny files that these tests write in the dataset's own
on-disk format: Tiered-ImageNet (folders, Ren et al.'s pickles, the npz variant), DomainNet (folders +
official lists, a class missing from one domain), Meta-Dataset (tfrecords + dataset_spec.json),
CIFAR-100 / FGVC-Aircraft / Oxford-IIIT Pet (through torchvision), STL-10 (raw binaries), CIFAR-10
(image folders); and a clear error naming the expected path when the data is absent."""
import hashlib
import pickle

import numpy as np
import pytest
import torch

from benchmark.data import REQUIRED, DataCorruptError, DataMissingError, check_available, load_dataset
from benchmark.data.fixtures import TIERED, colour, png, write_domainnet, write_jpg, write_meta_dataset, write_tiered


@pytest.mark.parametrize("kind", ["folders", "pickle", "npz"])
def test_tiered_imagenet_every_layout(tmp_path, kind):
    write_tiered(tmp_path / "tiered-imagenet", kind)
    ds = load_dataset("tiered-imagenet", tmp_path, 8, tmp_path / "cache")
    for split, wnids in TIERED.items():
        s = ds.splits[split]
        assert s.class_names == wnids and s.images.shape == (3 * len(wnids), 3, 8, 8)
        assert torch.equal(s.labels, torch.arange(len(wnids)).repeat_interleave(3))
        first = s.images[s.labels == 1][0, :, 4, 4].tolist()                  # class 1's colour survived
        assert all(abs(a - b) <= 3 for a, b in zip(first, colour(1)))
    assert load_dataset("tiered-imagenet", tmp_path, 8, tmp_path / "cache").splits["test"].class_names == ["n06", "n07"]


def test_tiered_imagenet_errors(tmp_path):
    with pytest.raises(DataMissingError, match="tiered-imagenet/train"):
        load_dataset("tiered-imagenet", tmp_path, 8)
    write_tiered(tmp_path / "tiered-imagenet", "pickle")
    (tmp_path / "tiered-imagenet" / "val_images_png.pkl").unlink()
    with pytest.raises(DataMissingError, match="val_images_png.pkl"):
        load_dataset("tiered-imagenet", tmp_path, 8)
    lab = tmp_path / "tiered-imagenet" / "test_labels.pkl"
    lab.write_bytes(pickle.dumps({"label_specific": np.array([0, 1])}))
    (tmp_path / "tiered-imagenet" / "val_images_png.pkl").write_bytes(pickle.dumps([png((0, 0, 0))] * 6))
    with pytest.raises(DataCorruptError, match="labels 2 images"):
        load_dataset("tiered-imagenet", tmp_path, 8)


# -- DomainNet ---------------------------------------------------------------------------------------------
CLASSES = ("aircraft_carrier", "bee", "zebra")


def test_domainnet_official_lists(tmp_path):
    write_domainnet(tmp_path / "domainnet")
    ds = load_dataset("domainnet", tmp_path, 8, tmp_path / "cache")
    train, val, test = (ds.splits[s] for s in ("train", "val", "test"))
    assert "painting/bee" not in train.class_names and "painting/zebra" in train.class_names
    assert len(train.class_names) == 5 * 3 - 1 and len(train) == 2 * len(train.class_names)
    assert val.class_names == train.class_names and len(val) == len(val.class_names)
    assert test.class_names == [f"sketch/{c}" for c in CLASSES] and len(test) == 3 * 3
    assert not any(c.startswith("sketch/") for c in train.class_names)
    capped = load_dataset("domainnet", tmp_path, 8, None, per_class=1)
    assert len(capped.splits["train"]) == len(train.class_names)


def test_domainnet_errors(tmp_path):
    with pytest.raises(DataMissingError, match="domainnet/clipart_train.txt"):
        check_available("domainnet", tmp_path)
    base = tmp_path / "domainnet"
    write_domainnet(base)
    (base / "real" / "zebra" / "real_002_train0.jpg").unlink()
    with pytest.raises(DataMissingError, match="real_002_train0.jpg"):
        load_dataset("domainnet", tmp_path, 8)
    (base / "sketch_test.txt").write_text("sketch/bee/x.jpg one\n")
    with pytest.raises(DataCorruptError, match="line 1"):
        load_dataset("domainnet", tmp_path, 8, sources=("clipart",))


# -- Meta-Dataset ----------------------------------------------------------------------------------------
def test_meta_dataset_tfrecords(tmp_path):
    from benchmark.data.metadataset import TRAIN_SOURCES
    base = tmp_path / "meta-dataset"
    write_meta_dataset(base, TRAIN_SOURCES, lambda s: {"TRAIN": 2, "VALID": 1, "TEST": 1})
    write_meta_dataset(base, ["traffic_sign"], lambda s: {"TRAIN": 0, "VALID": 0, "TEST": 3})
    ds = load_dataset("md-traffic_sign", tmp_path, 8, tmp_path / "cache")
    train, val, test = (ds.splits[s] for s in ("train", "val", "test"))
    assert len(train.class_names) == 16 and train.class_names[:2] == ["ilsvrc_2012/ilsvrc_2012_c0",
                                                                      "ilsvrc_2012/ilsvrc_2012_c1"]
    assert val.class_names[0] == "ilsvrc_2012/ilsvrc_2012_c2" and len(val) == 16
    assert test.class_names == [f"traffic_sign/traffic_sign_c{c}" for c in range(3)] and len(test) == 6
    px = test.images[test.labels == 2][0, :, 4, 4].tolist()
    assert all(abs(a - b) <= 3 for a, b in zip(px, colour(2)))
    with pytest.raises(DataMissingError, match="meta-dataset/mnist/dataset_spec.json"):
        check_available("md-mnist", tmp_path)
    (base / "traffic_sign" / "1.tfrecords").write_bytes(b"not a record")
    with pytest.raises(DataCorruptError, match="1.tfrecords"):
        load_dataset("md-traffic_sign", tmp_path, 8)


# -- transfer targets ------------------------------------------------------------------------------------
def test_cifar10_folders_and_stl10_binaries(tmp_path):
    for c, name in enumerate(["airplane", "cat"]):
        for j in range(2):
            write_jpg(tmp_path / "cifar10" / "test" / name / f"{j}.jpg", colour(c))
    ds = load_dataset("cifar10", tmp_path, 8)
    assert ds.splits["test"].class_names == ["airplane", "cat"] and len(ds.splits["test"]) == 4
    # STL-10: uint8 images 3x96x96 stored column-major, labels 1..10, class names one per line
    base = tmp_path / "stl10_binary"
    base.mkdir()
    img = np.zeros((2, 96, 96, 3), dtype=np.uint8)
    img[0, :10, :, 0] = 255                                     # image 0: red band at the top rows
    img[1, :, :10, 2] = 255                                     # image 1: blue band at the left columns
    img.transpose(0, 3, 2, 1).tofile(base / "test_X.bin")       # the format's column-major order
    np.array([3, 1], dtype=np.uint8).tofile(base / "test_y.bin")
    (base / "class_names.txt").write_text("airplane\nbird\ncar\n")
    s = load_dataset("stl10", tmp_path, 96).splits["test"]
    assert s.labels.tolist() == [2, 0] and s.class_names == ["airplane", "bird", "car"]
    assert s.images[0, 0, 0, 50] == 255 and s.images[0, 0, 50, 0] == 0    # rows, not columns
    assert s.images[1, 2, 50, 0] == 255 and s.images[1, 2, 0, 50] == 0
    (base / "test_y.bin").write_bytes(bytes([1]))
    with pytest.raises(DataCorruptError, match="not 1 images"):
        load_dataset("stl10", tmp_path, 32)


def test_torchvision_targets(tmp_path, monkeypatch):
    from torchvision import datasets as tv
    # CIFAR-100's python pickles; torchvision checks their md5s (patched to the fixture's)
    base = tmp_path / "cifar-100-python"
    base.mkdir()
    data = np.stack([np.full((3, 32, 32), colour(c)[0], dtype=np.uint8).reshape(-1) for c in (0, 1, 1)])
    files = {"train": {"data": data, "fine_labels": [0, 1, 1], "coarse_labels": [0, 0, 0]},
             "test": {"data": data, "fine_labels": [0, 1, 1], "coarse_labels": [0, 0, 0]},
             "meta": {"fine_label_names": ["apple", "bee"], "coarse_label_names": ["x"]}}
    for name, obj in files.items():
        (base / name).write_bytes(pickle.dumps(obj))
    md5 = {n: hashlib.md5((base / n).read_bytes()).hexdigest() for n in files}
    monkeypatch.setattr(tv.CIFAR100, "train_list", [["train", md5["train"]]])
    monkeypatch.setattr(tv.CIFAR100, "test_list", [["test", md5["test"]]])
    monkeypatch.setattr(tv.CIFAR100, "meta", dict(tv.CIFAR100.meta, md5=md5["meta"]))
    s = load_dataset("cifar100", tmp_path, 8).splits["test"]
    assert s.class_names == ["apple", "bee"] and s.labels.tolist() == [0, 1, 1]
    # FGVC-Aircraft: data/images/<id>.jpg, data/variants.txt, data/images_variant_test.txt
    d = tmp_path / "fgvc-aircraft-2013b" / "data"
    for j, var in enumerate(["707-320", "A320", "A320"]):
        write_jpg(d / "images" / f"{100 + j}.jpg", colour(j))
    (d / "variants.txt").write_text("707-320\nA320\n")
    (d / "images_variant_test.txt").write_text("100 707-320\n101 A320\n102 A320\n")
    s = load_dataset("aircraft", tmp_path, 8).splits["test"]
    assert s.class_names == ["707-320", "A320"] and s.labels.tolist() == [0, 1, 1]
    # Oxford-IIIT Pet: images/<Breed>_<n>.jpg, annotations/test.txt ("id class species breed"), trimaps/
    p = tmp_path / "oxford-iiit-pet"
    (p / "annotations" / "trimaps").mkdir(parents=True)
    for img in ("Abyssinian_1", "beagle_2"):
        write_jpg(p / "images" / f"{img}.jpg", (1, 2, 3))
    (p / "annotations" / "test.txt").write_text("Abyssinian_1 1 1 1\nbeagle_2 2 2 1\n")
    s = load_dataset("pets", tmp_path, 8).splits["test"]
    assert s.class_names == ["Abyssinian", "Beagle"] and s.labels.tolist() == [0, 1]
    # torchvision refusing the files is one clear error
    (base / "test").write_bytes(b"changed")
    with pytest.raises(DataCorruptError, match="torchvision refuses"):
        load_dataset("cifar100", tmp_path, 8)


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_every_dataset_names_its_expected_path_when_absent(tmp_path, name):
    with pytest.raises(DataMissingError) as err:
        check_available(name, tmp_path)
    assert str(tmp_path) in str(err.value) and "how to get it" in str(err.value)
    with pytest.raises(DataMissingError):
        load_dataset(name, tmp_path, 8)


# -- Tables 4 and 8 on fixture files; their grids without the data -----------------------------------------
def test_table4_and_table8_cells_run_on_fixture_files(tmp_path):
    from benchmark.cells import Cell
    from benchmark.data.metadataset import TRAIN_SOURCES
    from benchmark.runner import run_cell
    classes = tuple(f"class{c}" for c in range(6))
    write_domainnet(tmp_path / "domainnet", classes=classes, per_class=(3, 2))
    write_meta_dataset(tmp_path / "meta-dataset", TRAIN_SOURCES, lambda s: {"TRAIN": 1, "VALID": 1, "TEST": 0})
    write_meta_dataset(tmp_path / "meta-dataset", ["mnist"], lambda s: {"TRAIN": 0, "VALID": 0, "TEST": 5})
    for table, dataset in (("table4", "domainnet"), ("table8", "md-mnist")):
        cell = Cell(table, "mc-di", dataset, 5, 1, 0, "smoke", "resnet12", options=(("query", 1),))
        rec = run_cell(cell, tmp_path, tmp_path / "cache", tmp_path / "results")
        assert 0 <= rec["acc"] <= 100 and cell.record_path(tmp_path / "results").is_file()


@pytest.mark.parametrize("script", ["table4", "table8"])
def test_grid_without_its_data(tmp_path, script, capsys, monkeypatch):
    import importlib
    import pathlib
    monkeypatch.syspath_prepend(str(pathlib.Path(__file__).parents[1] / "reproduce"))
    mod = importlib.import_module(script)
    from benchmark.cli import grid_main
    args = ["--profile", "cpu", "--data", str(tmp_path / "empty"), "--results", str(tmp_path / "r"), "--no-progress"]
    assert grid_main(mod.GRID, args) == 2                          # a run: one clear error, nothing written
    assert "data not found" in capsys.readouterr().err and not (tmp_path / "r").exists()
    assert grid_main(mod.GRID, args + ["--table-only"]) == 0       # the table: every cell "missing data"
    written = sorted(p.name for p in (tmp_path / "r").rglob("*") if p.is_file())
    assert written == [f"{script}.csv", f"{script}.tex"]
    import pandas as pd
    df = pd.read_csv(tmp_path / "r" / f"{script}.csv")
    assert set(df["status"]) == {"missing data"} and df["paper_acc_mean"].notna().sum() >= 8
