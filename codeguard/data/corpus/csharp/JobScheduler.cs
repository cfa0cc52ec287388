using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Example.Collections;

namespace Example.Scheduling
{
    public enum JobPriority
    {
        Critical = 0,
        High = 1,
        Normal = 2,
        Low = 3,
    }

    public enum JobState { Pending, Running, Succeeded, Failed, Cancelled }

    public interface IJob
    {
        string Name { get; }
        JobPriority Priority { get; }
        Task RunAsync(CancellationToken token);
    }

    public record JobResult(string Name, JobState State, TimeSpan Elapsed, Exception? Error = null)
    {
        public bool IsSuccess => State == JobState.Succeeded;
    }

    public sealed class DelegateJob : IJob
    {
        private readonly Func<CancellationToken, Task> _body;

        public DelegateJob(string name, Func<CancellationToken, Task> body, JobPriority priority = JobPriority.Normal)
        {
            Name = name ?? throw new ArgumentNullException(nameof(name));
            _body = body ?? throw new ArgumentNullException(nameof(body));
            Priority = priority;
        }

        public string Name { get; }
        public JobPriority Priority { get; }

        public Task RunAsync(CancellationToken token) => _body(token);

        public override string ToString() => $"{Name} ({Priority})";
    }

    /// <summary>Runs queued jobs with bounded concurrency and per-job retries.</summary>
    public class JobScheduler : IDisposable
    {
        private readonly StablePriorityQueue<IJob, JobPriority> _queue = new();
        private readonly SemaphoreSlim _slots;
        private readonly object _gate = new();
        private readonly List<JobResult> _results = new();
        private bool _disposed;

        public event EventHandler<JobResult>? JobCompleted;

        public JobScheduler(int maxConcurrency = 4, int maxAttempts = 3)
        {
            if (maxConcurrency <= 0) throw new ArgumentOutOfRangeException(nameof(maxConcurrency));
            _slots = new SemaphoreSlim(maxConcurrency, maxConcurrency);
            MaxAttempts = maxAttempts;
        }

        public int MaxAttempts { get; init; }

        public IReadOnlyList<JobResult> Results
        {
            get
            {
                lock (_gate) { return _results.ToList(); }
            }
        }

        public void Submit(IJob job)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            lock (_gate)
            {
                _queue.Enqueue(job, job.Priority);
            }
        }

        public async Task<IReadOnlyList<JobResult>> RunAllAsync(CancellationToken token = default)
        {
            var running = new List<Task>();
            while (true)
            {
                IJob? job;
                lock (_gate)
                {
                    if (!_queue.TryDequeue(out job, out _)) break;
                }
                await _slots.WaitAsync(token).ConfigureAwait(false);
                running.Add(Task.Run(async () =>
                {
                    try
                    {
                        Record(await ExecuteAsync(job!, token).ConfigureAwait(false));
                    }
                    finally
                    {
                        _slots.Release();
                    }
                }, token));
            }
            await Task.WhenAll(running).ConfigureAwait(false);
            return Results;
        }

        private async Task<JobResult> ExecuteAsync(IJob job, CancellationToken token)
        {
            var watch = Stopwatch.StartNew();
            Exception? last = null;
            for (int attempt = 1; attempt <= MaxAttempts; attempt++)
            {
                try
                {
                    await job.RunAsync(token).ConfigureAwait(false);
                    return new JobResult(job.Name, JobState.Succeeded, watch.Elapsed);
                }
                catch (OperationCanceledException) when (token.IsCancellationRequested)
                {
                    return new JobResult(job.Name, JobState.Cancelled, watch.Elapsed);
                }
                catch (Exception ex)
                {
                    last = ex;
                    var delay = TimeSpan.FromMilliseconds(100 * Math.Pow(2, attempt - 1));
                    await Task.Delay(delay, token).ConfigureAwait(false);
                }
            }
            return new JobResult(job.Name, JobState.Failed, watch.Elapsed, last);
        }

        private void Record(JobResult result)
        {
            lock (_gate)
            {
                _results.Add(result);
            }
            JobCompleted?.Invoke(this, result);
        }

        public static string Summarize(IEnumerable<JobResult> results)
        {
            var groups = results
                .GroupBy(r => r.State)
                .OrderBy(g => g.Key)
                .Select(g => $"{g.Key.ToString().ToLowerInvariant()}={g.Count()}");
            return string.Join(", ", groups);
        }

        public void Dispose()
        {
            if (_disposed) return;
            _disposed = true;
            _slots.Dispose();
            GC.SuppressFinalize(this);
        }
    }

    public static class Program
    {
        public static async Task<int> Main(string[] args)
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            using var scheduler = new JobScheduler(maxConcurrency: args.Length > 0 ? int.Parse(args[0]) : 2);
            scheduler.JobCompleted += (_, r) => Console.WriteLine($"[{r.State,-9}] {r.Name} in {r.Elapsed.TotalMilliseconds:F0} ms");

            var random = new Random(42);
            foreach (var i in Enumerable.Range(1, 8))
            {
                var priority = (JobPriority)(i % 4);
                scheduler.Submit(new DelegateJob($"job-{i:D2}", async token =>
                {
                    await Task.Delay(random.Next(10, 50), token);
                    if (i % 5 == 0) throw new InvalidOperationException($"job {i} is unlucky");
                }, priority));
            }

            var results = await scheduler.RunAllAsync(cts.Token);
            Console.WriteLine(JobScheduler.Summarize(results));
            return results.All(r => r.IsSuccess) ? 0 : 1;
        }
    }
}
