// The trainers' tests run one class at a time in this assembly. With the VAE, text-encoder and U-Net trainers' tests in
// one test host (issue 24 moved them together) and run in parallel under CI's GC stress, the host crashed in native
// code in 2 of 5 runs (2026-12-07: once in CI, once in a loop of `dotnet test tests/Training`, both under load; the
// crash dump shows ToyWorld.SolidImage inside THSTensor_contiguous; cause not found yet). In their old assemblies these
// tests never crashed a CI run. Running the classes one at a time is a mitigation until the cause is found; on 2 cores
// parallel classes gain little here.
[assembly: Xunit.CollectionBehavior(DisableTestParallelization = true)]
