// The judge's tests run one class at a time: JudgeTrainer seeds torch's global generator and builds its model from it,
// and other classes here build models or draw from that generator too, so in parallel a trainer built twice could start
// from different weights (seen 2026-12-07: JudgeTrainerTests.Resume_ContinuesBitForBit failed on conv_in.weight in one
// CI run out of three). The same race as tests/Shared/GlobalRng.cs, for every class of this assembly at once.
[assembly: Xunit.CollectionBehavior(DisableTestParallelization = true)]
