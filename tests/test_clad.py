"""CLAD and CLAD+: positives, the negative dictionary, the training loss, dataset checks, checkpoints, runs."""

from __future__ import annotations

import copy
import math
from collections import deque

import pytest
import torch
import torch.nn.functional as F

from benchsuite import records
from benchsuite.datasets.base import Dataset
from benchsuite.datasets.splits import Split, TensorSplit
from benchsuite.datasets.synthetic import SyntheticBackgrounds, SyntheticTexture
from benchsuite.errors import ConfigError
from benchsuite.experiment.execute import execute
from benchsuite.experiment.run import run
from benchsuite.methods.clad import CLAD, CLADPlus
from benchsuite.methods.clad_dictionary import NegativeDictionary
from benchsuite.methods.clad_positives import pick_donors, swap_cue
from benchsuite.models.backbones import SmallCNN
from benchsuite.training.augment import NoAugment, normalize
from tests.conftest import GIN, TINY, TINY_DATA


def hand_made_batch() -> dict[str, torch.Tensor]:
    """4 images of 1x8x8 px: image i is 10 * (i + 1) everywhere, its bias image 100 + i; anchor i's mask is
    pixel column i (so each anchor's foreground is distinct); labels 0, 0, 1, 2."""
    images = torch.stack([torch.full((1, 8, 8), 10 * (i + 1)) for i in range(4)]).to(torch.uint8)
    bias_images = torch.stack([torch.full((1, 8, 8), 100 + i) for i in range(4)]).to(torch.uint8)
    masks = torch.zeros(4, 8, 8, dtype=torch.bool)
    for i in range(4):
        masks[i, :, i] = True
    return {"image": images, "bias_image": bias_images, "mask": masks, "label": torch.tensor([0, 0, 1, 2])}


def test_donors_have_another_label_cover_all_of_them_and_follow_the_seed() -> None:
    labels = hand_made_batch()["label"]
    seen: dict[int, set[int]] = {i: set() for i in range(4)}
    generator = torch.Generator().manual_seed(0)
    for _ in range(200):
        donor, has_donor = pick_donors(labels, generator)
        assert has_donor.all()
        assert (labels[donor] != labels).all()
        for i, j in enumerate(donor.tolist()):
            seen[i].add(j)
    assert seen == {0: {2, 3}, 1: {2, 3}, 2: {0, 1, 3}, 3: {0, 1, 2}}
    first = pick_donors(labels, torch.Generator().manual_seed(5))[0]
    assert torch.equal(first, pick_donors(labels, torch.Generator().manual_seed(5))[0])
    torch.manual_seed(7)
    global_draw = pick_donors(labels)[0]
    torch.manual_seed(7)
    assert torch.equal(global_draw, pick_donors(labels)[0])


def test_a_batch_of_one_label_has_no_donors() -> None:
    donor, has_donor = pick_donors(torch.zeros(5, dtype=torch.long))
    assert not has_donor.any() and torch.equal(donor, torch.arange(5))


def test_background_positives_keep_the_anchors_foreground_on_the_donors_background() -> None:
    batch = hand_made_batch()
    donor = torch.tensor([2, 3, 0, 1])
    positives = swap_cue(batch["image"], batch["mask"], batch["bias_image"], donor, "background")
    for i in range(4):
        inside, outside = positives[i, 0][batch["mask"][i]], positives[i, 0][~batch["mask"][i]]
        assert (inside == 10 * (i + 1)).all() and len(inside) == 8  # the anchor's own foreground pixels
        assert (outside == 100 + donor[i]).all()  # the donor's background alone, not the donor's image


def test_without_stored_backgrounds_the_donor_loses_its_own_foreground() -> None:
    # real datasets (ImageNet-9) have masks but no background-alone image: the donor's own object is removed
    batch = hand_made_batch()
    donor = torch.tensor([2, 3, 0, 1])
    positives = swap_cue(batch["image"], batch["mask"], None, donor, "background")
    for i in range(4):
        anchor, hole = batch["mask"][i], batch["mask"][donor[i]]
        assert (positives[i, 0][anchor] == 10 * (i + 1)).all()
        assert (positives[i, 0][hole & ~anchor] == 0).all()  # the donor's foreground, blacked out
        assert (positives[i, 0][~hole & ~anchor] == 10 * (donor[i] + 1)).all()  # the donor's background
    with pytest.raises(ValueError, match="texture cue needs bias_images"):
        swap_cue(batch["image"], batch["mask"], None, donor, "texture")


def test_texture_positives_keep_the_anchors_shape_filled_with_the_donors_texture() -> None:
    batch = hand_made_batch()
    donor = torch.tensor([3, 2, 1, 0])
    positives = swap_cue(batch["image"], batch["mask"], batch["bias_image"], donor, "texture")
    for i in range(4):
        assert (positives[i, 0][batch["mask"][i]] == 100 + donor[i]).all()
        assert (positives[i, 0][~batch["mask"][i]] == 10 * (i + 1)).all()


@pytest.mark.parametrize("cls", [SyntheticBackgrounds, SyntheticTexture])
def test_the_benchmarks_bias_images_are_the_cue_their_images_were_composed_from(cls) -> None:
    dataset = cls(image_size=16, train_size=64, val_size=16, test_size=16)
    for name in ("train", "val", "test"):
        split = dataset.split(name)
        assert split.bias_images is not None and split.bias_images.shape == split.images.shape
        cue_region = ~split.masks if cls is SyntheticBackgrounds else split.masks
        cue_region = cue_region.unsqueeze(1).expand_as(split.images)
        assert torch.equal(split.images[cue_region], split.bias_images[cue_region])
        # the cue images are not the images themselves: the other region differs somewhere
        assert not torch.equal(split.images, split.bias_images)


def queue_contents(dictionary: NegativeDictionary, key: int) -> list[tuple[float, int]]:
    """(feature[0], class) of the filled entries of one queue, oldest first."""
    start = int(dictionary.pointer[key])
    order = [(start + k) % dictionary.size for k in range(dictionary.size)]
    return [
        (dictionary.features[key, s, 0].item(), int(dictionary.classes[key, s]))
        for s in order
        if dictionary.classes[key, s] >= 0
    ]


def test_dictionary_is_a_fifo_queue_per_key_like_pushing_one_by_one() -> None:
    generator = torch.Generator().manual_seed(0)
    dictionary = NegativeDictionary(num_keys=3, size=4, feature_dim=2)
    reference = {k: deque(maxlen=4) for k in range(3)}
    counter = 0
    for batch_size in (1, 3, 9, 2, 0, 6):  # 9 > size: one key may receive more entries than it holds
        keys = torch.randint(3, (batch_size,), generator=generator)
        classes = torch.randint(5, (batch_size,), generator=generator)
        values = torch.arange(counter, counter + batch_size, dtype=torch.float32)
        counter += batch_size
        dictionary.push(values.unsqueeze(1).expand(-1, 2), keys, classes)
        for value, key, cls in zip(values.tolist(), keys.tolist(), classes.tolist(), strict=True):
            reference[key].append((value, cls))
        for key in range(3):
            assert queue_contents(dictionary, key) == list(reference[key])


def test_dictionary_by_hand_partial_queues_and_own_class_exclusion() -> None:
    dictionary = NegativeDictionary(num_keys=2, size=3, feature_dim=1)
    dictionary.push(torch.tensor([[1.0], [2.0]]), torch.tensor([0, 0]), torch.tensor([5, 6]))
    negatives, valid = dictionary.negatives(torch.tensor([0, 0, 1]), torch.tensor([5, 7, 5]))
    assert negatives.shape == (3, 3, 1)
    # key 0 holds [1 (class 5), 2 (class 6), empty]; key 1 is empty
    assert valid.tolist() == [[False, True, False], [True, True, False], [False, False, False]]
    assert negatives[0, :2, 0].tolist() == [1.0, 2.0]
    dictionary.push(torch.tensor([[3.0], [4.0]]), torch.tensor([0, 0]), torch.tensor([7, 7]))
    assert queue_contents(dictionary, 0) == [(2.0, 6), (3.0, 7), (4.0, 7)]  # 1 was the oldest: overwritten


class _TinyData(Dataset):
    """4 hand-made images (as hand_made_batch) with background labels; masks optional."""

    registered_name = "TinyData"
    num_classes = 3
    num_groups = 3

    def __init__(self, backgrounds: list[int], labels: list[int], masks: bool = True, bias: bool = True) -> None:
        batch = hand_made_batch()
        n = len(labels)
        self._split = TensorSplit(
            batch["image"][:n].expand(-1, 3, -1, -1).contiguous(), torch.tensor(labels), torch.tensor(labels),
            torch.tensor(backgrounds), batch["mask"][:n] if masks else None,
            batch["bias_image"][:n].expand(-1, 3, -1, -1).contiguous() if bias else None,
        )

    @property
    def _splits(self) -> dict[str, Split]:
        return dict.fromkeys(self.split_names, self._split)


def test_a_dataset_without_masks_fails_at_start_with_a_clear_message(tmp_path) -> None:
    dataset = _TinyData([0, 1, 2], [0, 1, 2], masks=False)
    with pytest.raises(ConfigError, match=r"CLAD needs.*foreground masks.*TinyData's training split has none"):
        CLAD().check_dataset(dataset)
    with pytest.raises(ConfigError, match="CLADPlus needs"):
        run(method=CLADPlus(), dataset=dataset, backbone=SmallCNN, run_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()
    CLAD().check_dataset(_TinyData([0, 1, 2], [0, 1, 2]))  # with masks: accepted
    # without stored bias images the background cue removes the donor's foreground; the texture cue cannot
    CLAD().check_dataset(_TinyData([0, 1, 2], [0, 1, 2], bias=False))
    with pytest.raises(ConfigError, match=r"bias-cue images \(Split.bias_images: the texture alone\)"):
        CLAD(cue="texture").check_dataset(_TinyData([0, 1, 2], [0, 1, 2], bias=False))


def _method(cls=CLAD, **kwargs):
    dataset = _TinyData([0, 1, 2], [0, 1, 1])
    method = cls(augment=NoAugment(), **kwargs)
    method.setup(lambda: SmallCNN(width=4), dataset)
    method.eval()  # batch norm with running statistics: an image's features do not depend on its batch
    return method, dataset


def _features(method, images: torch.Tensor, dataset) -> torch.Tensor:
    return method.encoder(normalize(images.float() / 255, dataset.mean, dataset.std))


def test_loss_is_cross_entropy_alone_without_donors_and_counts_those_anchors() -> None:
    method, dataset = _method()
    batch = dataset.split("train").take(torch.arange(3))
    batch["label"] = torch.zeros(3, dtype=torch.long)
    with torch.no_grad():
        loss = method.loss(batch, dataset)
        expected = F.cross_entropy(method.classifier(_features(method, batch["image"], dataset)), batch["label"])
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert int(method.ce_only_anchors) == 3 and int(method.trained_anchors) == 3


@pytest.mark.parametrize("cls", [CLAD, CLADPlus])
def test_loss_uses_each_anchors_key_without_its_class_and_skips_anchors_with_an_empty_key(cls) -> None:
    # labels 0, 1, 1 on backgrounds 0, 1, 2: anchors 1 and 2 take anchor 0 as donor (their positives enter key 0),
    # anchor 0 takes 1 or 2 (its positive enters key 1 or 2): exactly one of anchors 1, 2 finds its key empty.
    method, dataset = _method(cls, temperature=0.3, contrastive_weight=0.7)
    batch = dataset.split("train").take(torch.arange(3))
    torch.manual_seed(11)
    donor, _ = pick_donors(batch["label"])
    torch.manual_seed(11)
    with torch.no_grad():
        loss = method.loss(batch, dataset)
        anchors = _features(method, batch["image"], dataset).double()
        positives_images = swap_cue(batch["image"], batch["mask"], batch["bias_image"], donor)
        positives = _features(method, positives_images, dataset).double()
        labels = batch["label"]
        ce = F.cross_entropy(method.classifier(anchors.float()), labels).item()
        if cls is CLADPlus:
            ce += F.cross_entropy(method.classifier(positives.float()), labels).item()
    keys = batch["background"].tolist()
    terms = []
    for a in range(3):
        negatives = [positives[p] for p in range(3) if keys[donor[p]] == keys[a] and labels[p] != labels[a]]
        if not negatives:
            continue

        def e(u, v):
            return math.exp(float(u @ v) / math.sqrt(float(u @ u) * float(v @ v)) / 0.3)

        pos = e(anchors[a], positives[a])
        terms.append(-math.log(pos / (pos + sum(e(anchors[a], n) for n in negatives))))
    assert len(terms) == 2
    assert loss.item() == pytest.approx(ce + 0.7 * sum(terms) / len(terms), rel=1e-5)
    assert int(method.ce_only_anchors) == 1 and int(method.trained_anchors) == 3


def test_the_dictionary_and_counters_travel_with_the_checkpoint(tmp_path) -> None:
    files = [GIN / "base.gin", GIN / "methods" / "clad.gin", GIN / "datasets" / "synthetic_backgrounds.gin"]
    outcome = execute(files, [*TINY, *TINY_DATA["SyntheticBackgrounds"]], results=tmp_path)
    checkpoint = torch.load(outcome.run_dir / records.CHECKPOINT, weights_only=True)
    state = checkpoint["state"]
    assert {"dictionary.features", "dictionary.classes", "dictionary.pointer", "ce_only_anchors"} <= set(state)
    assert (state["dictionary.classes"] >= 0).any() and state["dictionary.features"].abs().sum() > 0
    assert int(state["trained_anchors"]) == 128  # 4 batches of 32

    restored = CLAD(queue_size=32)
    restored.setup(lambda: SmallCNN(width=8), SyntheticBackgrounds(16, 128, 64, 64))
    assert (restored.dictionary.classes < 0).all()
    restored.load_state_dict(state)
    for name in ("features", "classes", "pointer"):
        assert torch.equal(getattr(restored.dictionary, name), state[f"dictionary.{name}"])
    assert int(restored.trained_anchors) == 128


@pytest.mark.parametrize(
    ("experiment", "dataset", "row"),
    [
        ("clad_synthetic_backgrounds", "SyntheticBackgrounds", "CLAD"),
        ("clad_plus_synthetic_backgrounds", "SyntheticBackgrounds", "CLAD+"),
        ("clad_synthetic_texture", "SyntheticTexture", "CLAD"),
        ("clad_plus_synthetic_texture", "SyntheticTexture", "CLAD+"),
    ],
)
def test_tiny_runs_end_to_end(tmp_path, experiment, dataset, row) -> None:
    outcome = execute([GIN / f"{experiment}.gin"], [*TINY, *TINY_DATA[dataset]], results=tmp_path)
    record = outcome.record
    assert record["status"] == "finished" and set(record["metrics"]) == {row}
    metrics = record["metrics"][row]
    assert metrics["trained_anchors"] == 128 and 0 <= metrics["ce_only_anchors"] < 128
    assert ("bg_gap" in metrics) == (dataset == "SyntheticBackgrounds")
    assert "debiased" in metrics
    details = record["method_details"]
    assert details["cue"] == ("texture" if dataset == "SyntheticTexture" else "background")
    assert details["positive_cross_entropy"] == (row == "CLAD+")


@pytest.mark.parametrize("binding", ["CLAD.cue = 'shape'", "CLAD.queue_size = 0", "CLAD.temperature = 0.0"])
def test_bad_settings_are_rejected(tmp_path, binding) -> None:
    with pytest.raises(ConfigError, match="CLAD"):
        execute([GIN / "clad_synthetic_backgrounds.gin"], [*TINY, binding], results=tmp_path)
    assert not any(tmp_path.iterdir())


class _GivenSplit(Dataset):
    """One split given whole (used as every split), with CLAD's inputs."""

    registered_name = "GivenSplit"
    num_classes = 3
    num_groups = 3

    def __init__(self, split: Split) -> None:
        self._split = split

    @property
    def _splits(self) -> dict[str, Split]:
        return dict.fromkeys(self.split_names, self._split)


@pytest.mark.parametrize("cls", [CLAD, CLADPlus])
def test_loss_against_a_float64_reference_with_same_class_entries_in_the_anchors_queue(cls, monkeypatch) -> None:
    # Six anchors (labels 0 0 1 1 2 2, backgrounds 0 1 0 1 2 3) of random 16 px images, random bias images and
    # random rectangular masks; donors written by hand. The queues are pre-filled through the buffers, and
    # every key that an anchor reads holds at least one entry of the anchor's class: a copy of anchor 0's
    # own features in key 0, class 1 in key 1, class 2 in keys 2 and 3, plus this batch's own positives
    # (pushed before the negatives are read), among them anchor 0's positive under its own key 0. Anchor 5's
    # key 3 holds class 2 alone: it has no negative and gets the cross-entropy term only.
    generator = torch.Generator().manual_seed(3)
    n, size = 6, 16
    images = torch.randint(0, 256, (n, 3, size, size), generator=generator, dtype=torch.uint8)
    bias_images = torch.randint(0, 256, (n, 3, size, size), generator=generator, dtype=torch.uint8)
    masks = torch.zeros(n, size, size, dtype=torch.bool)
    for i, (top, left, height, width) in enumerate(
        [(2, 3, 8, 6), (5, 1, 6, 10), (0, 8, 9, 7), (7, 7, 8, 8), (3, 0, 10, 5), (1, 4, 12, 9)]
    ):
        masks[i, top : top + height, left : left + width] = True
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    backgrounds = torch.tensor([0, 1, 0, 1, 2, 3])
    dataset = _GivenSplit(TensorSplit(images, labels, labels, backgrounds, masks, bias_images))
    method = cls(augment=NoAugment(), temperature=0.25, contrastive_weight=0.6, queue_size=6)
    method.setup(lambda: SmallCNN(width=4), dataset)
    method.eval()  # batch norm with running statistics: an image's features do not depend on its batch

    donor = [2, 4, 1, 0, 3, 0]
    assert all(labels[d] != labels[a] for a, d in enumerate(donor))  # each donor is one pick_donors may draw
    monkeypatch.setattr(
        "benchsuite.methods.clad.pick_donors", lambda labels: (torch.tensor(donor), torch.ones(n, dtype=torch.bool))
    )

    # float64 reference: the encoder and classifier in double precision, the images normalised by hand
    encoder64 = copy.deepcopy(method.encoder).double()
    classifier64 = copy.deepcopy(method.classifier).double()
    mean = torch.tensor(dataset.mean, dtype=torch.float64).view(1, 3, 1, 1)
    std = torch.tensor(dataset.std, dtype=torch.float64).view(1, 3, 1, 1)

    def features64(batch: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return encoder64((batch.double() / 255 - mean) / std)

    positive_images = torch.empty_like(images)
    for a in range(n):  # the anchor's object (inside its mask) on its donor's background alone
        positive_images[a] = bias_images[donor[a]]
        positive_images[a][:, masks[a]] = images[a][:, masks[a]]
    anchor_features, positive_features = features64(images), features64(positive_images)

    feature_dim = method.encoder.feature_dim
    random_entry = torch.rand(5, feature_dim, generator=generator, dtype=torch.float64)
    prefill = {  # key -> [(features, class)], oldest first
        0: [(2 * anchor_features[0], 0), (random_entry[0], 2)],
        1: [(random_entry[1], 1), (random_entry[2], 0)],
        2: [(random_entry[3], 2)],
        3: [(1.5 * anchor_features[5], 2), (random_entry[4], 2)],
    }
    dictionary = method.dictionary
    for key, entries in prefill.items():
        for slot, (vector, klass) in enumerate(entries):
            dictionary.features[key, slot] = vector.float()
            dictionary.classes[key, slot] = klass
        dictionary.pointer[key] = len(entries)

    queues = {key: list(entries) for key, entries in prefill.items()}
    for p in range(n):  # this batch's positives enter their donor's background's queue with the anchor's class
        queues[int(backgrounds[donor[p]])].append((positive_features[p], int(labels[p])))
    assert all(len(queue) <= 6 for queue in queues.values())  # nothing is overwritten
    for a in range(n):
        assert any(klass == int(labels[a]) for _, klass in queues[int(backgrounds[a])])

    def cosine(u: torch.Tensor, v: torch.Tensor) -> float:
        return float(u @ v) / math.sqrt(float(u @ u) * float(v @ v))

    terms, usable = [], []
    for a in range(n):
        negatives = [vector for vector, klass in queues[int(backgrounds[a])] if klass != int(labels[a])]
        if not negatives:
            continue
        usable.append(a)
        positive = math.exp(cosine(anchor_features[a], positive_features[a]) / 0.25)
        others = sum(math.exp(cosine(anchor_features[a], v) / 0.25) for v in negatives)
        terms.append(-math.log(positive / (positive + others)))
    assert usable == [0, 1, 2, 3, 4]

    def cross_entropy(logits: torch.Tensor) -> float:
        return sum(
            math.log(sum(math.exp(float(z)) for z in row)) - float(row[int(y)])
            for row, y in zip(logits, labels, strict=True)
        ) / n

    with torch.no_grad():
        expected = cross_entropy(classifier64(anchor_features)) + 0.6 * sum(terms) / len(terms)
        if cls is CLADPlus:
            expected += cross_entropy(classifier64(positive_features))
        loss = method.loss(dataset.split("train").take(torch.arange(n)), dataset)
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    assert int(method.ce_only_anchors) == 1 and int(method.trained_anchors) == n
