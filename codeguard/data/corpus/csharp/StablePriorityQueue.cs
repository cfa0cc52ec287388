using System;
using System.Collections;
using System.Collections.Generic;

namespace Example.Collections
{
    /// <summary>
    /// A binary min-heap keyed by a priority. Ties are broken by insertion order,
    /// so items with equal priority come out first-in, first-out.
    /// </summary>
    /// <typeparam name="TItem">Type of the stored items.</typeparam>
    /// <typeparam name="TPriority">Type of the priority; must be comparable.</typeparam>
    public sealed class StablePriorityQueue<TItem, TPriority> : IReadOnlyCollection<TItem>
        where TPriority : IComparable<TPriority>
    {
        private struct Node
        {
            public TItem Item;
            public TPriority Priority;
            public long Sequence;
        }

        private Node[] _heap;
        private int _count;
        private long _sequence;
        private int _version;

        public StablePriorityQueue(int capacity = 16)
        {
            if (capacity < 1)
                throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "must be at least 1");
            _heap = new Node[capacity];
        }

        public int Count => _count;

        public bool IsEmpty => _count == 0;

        public void Enqueue(TItem item, TPriority priority)
        {
            if (_count == _heap.Length)
            {
                Array.Resize(ref _heap, _heap.Length * 2);
            }
            _heap[_count] = new Node { Item = item, Priority = priority, Sequence = _sequence++ };
            SiftUp(_count++);
            _version++;
        }

        public TItem Dequeue()
        {
            if (!TryDequeue(out var item, out _))
                throw new InvalidOperationException("The queue is empty.");
            return item;
        }

        public bool TryDequeue(out TItem item, out TPriority priority)
        {
            if (_count == 0)
            {
                item = default!;
                priority = default!;
                return false;
            }
            (item, priority) = (_heap[0].Item, _heap[0].Priority);
            _heap[0] = _heap[--_count];
            _heap[_count] = default;
            if (_count > 0) SiftDown(0);
            _version++;
            return true;
        }

        public TItem Peek() => _count > 0 ? _heap[0].Item : throw new InvalidOperationException("The queue is empty.");

        private bool Less(int a, int b)
        {
            int cmp = _heap[a].Priority.CompareTo(_heap[b].Priority);
            return cmp < 0 || (cmp == 0 && _heap[a].Sequence < _heap[b].Sequence);
        }

        private void Swap(int a, int b) => (_heap[a], _heap[b]) = (_heap[b], _heap[a]);

        private void SiftUp(int i)
        {
            while (i > 0)
            {
                int parent = (i - 1) / 2;
                if (!Less(i, parent)) break;
                Swap(i, parent);
                i = parent;
            }
        }

        private void SiftDown(int i)
        {
            for (;;)
            {
                int left = 2 * i + 1, right = left + 1, smallest = i;
                if (left < _count && Less(left, smallest)) smallest = left;
                if (right < _count && Less(right, smallest)) smallest = right;
                if (smallest == i) return;
                Swap(i, smallest);
                i = smallest;
            }
        }

        public IEnumerator<TItem> GetEnumerator()
        {
            int version = _version;
            for (int i = 0; i < _count; i++)
            {
                if (version != _version)
                    throw new InvalidOperationException("Collection was modified during enumeration.");
                yield return _heap[i].Item;
            }
        }

        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
    }
}
