import pytest
import torch

from benchmark.data import (DataCorruptError, DataMissingError, EpisodeSampler, check_available, load_dataset)
from conftest import write_image_folder_splits, write_tiny_mini_imagenet, write_tiny_omniglot


# ---- the episode sampler ---------------------------------------------------------------
def test_sampler_shapes_and_labels():
    labels = torch.arange(12).repeat_interleave(25)
    s = EpisodeSampler(labels, way=5, shot=3, query=15, seed=0)
    ep = s.episode(7)
    assert ep.support.shape == (15,) and ep.query.shape == (75,) and ep.classes.shape == (5,)
    assert len(set(ep.classes.tolist())) == 5                       # N distinct classes
    assert set(ep.support.tolist()).isdisjoint(ep.query.tolist())    # support and query disjoint
    # labels line up with the classes, class by class
    for lab_tensor, idx in ((ep.support_labels, ep.support), (ep.query_labels, ep.query)):
        assert torch.equal(ep.classes[lab_tensor], labels[idx])
    assert ep.support_labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]


def test_sampler_seeded_determinism():
    labels = torch.arange(20).repeat_interleave(20)
    a = EpisodeSampler(labels, 5, 1, 15, seed=3).episodes(10)
    b = EpisodeSampler(labels, 5, 1, 15, seed=3).episodes(10)
    c = EpisodeSampler(labels, 5, 1, 15, seed=4).episodes(10)
    assert all(torch.equal(x.support, y.support) and torch.equal(x.query, y.query) for x, y in zip(a, b))
    assert any(not torch.equal(x.support, y.support) for x, y in zip(a, c))
    # episode i does not depend on which other episodes were drawn
    assert torch.equal(EpisodeSampler(labels, 5, 1, 15, seed=3).episode(9).query, a[9].query)


def test_sampler_rejects_impossible_episodes():
    with pytest.raises(ValueError, match="classes of this split have"):
        EpisodeSampler(torch.arange(4).repeat_interleave(20), way=5, shot=1, query=15, seed=0)


# ---- loaders on tiny files in the real formats --------------------------------------------
@pytest.mark.parametrize("extracted", [False, True])
def test_omniglot_official_layout(tmp_path, extracted):
    write_tiny_omniglot(tmp_path, extracted=extracted)
    ds = load_dataset("omniglot", tmp_path, image_size=28, cache_dir=tmp_path / "c")
    total = sum(s.num_classes for s in ds.splits.values())
    assert total == 16                                              # 2 sets x 2 alphabets x 4 characters
    names = [set(s.class_names) for s in ds.splits.values()]
    assert all(a.isdisjoint(b) for i, a in enumerate(names) for b in names[i + 1:])
    assert ds.splits["train"].images.shape[1:] == (1, 28, 28)
    assert all(len(s) == 20 * s.num_classes for s in ds.splits.values())
    # lake split keeps evaluation characters for meta-test only
    lake = load_dataset("omniglot", tmp_path, 28, tmp_path / "c", split="lake")
    assert all(n.startswith("images_evaluation") for n in lake.splits["test"].class_names)
    rot = load_dataset("omniglot", tmp_path, 28, tmp_path / "c", rotations=True)
    assert rot.splits["train"].num_classes == 4 * ds.splits["train"].num_classes
    assert rot.splits["test"].num_classes == ds.splits["test"].num_classes


def test_omniglot_corrupt_zip(tmp_path):
    write_tiny_omniglot(tmp_path)
    (tmp_path / "omniglot-py" / "images_background.zip").write_bytes(b"not a zip")
    with pytest.raises(DataCorruptError, match="not a valid zip"):
        load_dataset("omniglot", tmp_path, 28)


def test_mini_imagenet_ravi_format(tmp_path):
    write_tiny_mini_imagenet(tmp_path)
    ds = load_dataset("mini-imagenet", tmp_path, image_size=16, cache_dir=tmp_path / "c")
    assert [ds.splits[s].num_classes for s in ("train", "val", "test")] == [4, 2, 3]
    assert ds.splits["test"].images.shape == (60, 3, 16, 16)
    # the cache returns the same tensors
    again = load_dataset("mini-imagenet", tmp_path, image_size=16, cache_dir=tmp_path / "c")
    assert torch.equal(again.splits["test"].images, ds.splits["test"].images)


def test_mini_imagenet_bad_csv(tmp_path):
    write_tiny_mini_imagenet(tmp_path)
    (tmp_path / "mini-imagenet" / "val.csv").write_text("a,b\nx,y\n")
    with pytest.raises(DataCorruptError, match="filename,label"):
        load_dataset("mini-imagenet", tmp_path, 16)


def test_image_folder_splits_tiered(tmp_path):
    write_image_folder_splits(tmp_path, "tiered-imagenet")
    ds = load_dataset("tiered-imagenet", tmp_path, image_size=8)
    assert [ds.splits[s].num_classes for s in ("train", "val", "test")] == [3, 2, 3]
    assert ds.splits["train"].images.shape == (18, 3, 8, 8)


# ---- missing data ------------------------------------------------------------------------
@pytest.mark.parametrize("name,path", [("omniglot", "omniglot-py/images_background.zip"),
                                       ("mini-imagenet", "mini-imagenet/images"),
                                       ("tiered-imagenet", "tiered-imagenet/train")])
def test_missing_data_names_path_and_how(tmp_path, name, path):
    with pytest.raises(DataMissingError) as err:
        check_available(name, tmp_path)
    msg = str(err.value)
    assert str(tmp_path / path) in msg and "how to get it" in msg
    with pytest.raises(DataMissingError):
        load_dataset(name, tmp_path, 16)
