package org.example.collections;

import java.util.AbstractCollection;
import java.util.ConcurrentModificationException;
import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * A fixed-capacity circular buffer. When the buffer is full, adding a new
 * element overwrites the oldest one.
 *
 * @param <E> the element type
 */
public final class RingBuffer<E> extends AbstractCollection<E> {

    private static final int DEFAULT_CAPACITY = 16;

    private final Object[] elements;
    private int head;
    private int size;
    private transient int modCount;

    public RingBuffer() {
        this(DEFAULT_CAPACITY);
    }

    public RingBuffer(int capacity) {
        if (capacity <= 0) {
            throw new IllegalArgumentException("capacity must be positive: " + capacity);
        }
        this.elements = new Object[capacity];
    }

    public int capacity() {
        return elements.length;
    }

    @Override
    public int size() {
        return size;
    }

    public boolean isFull() {
        return size == elements.length;
    }

    @Override
    public boolean add(E element) {
        Objects.requireNonNull(element, "element");
        int tail = (head + size) % elements.length;
        elements[tail] = element;
        if (isFull()) {
            head = (head + 1) % elements.length;
        } else {
            size++;
        }
        modCount++;
        return true;
    }

    @SuppressWarnings("unchecked")
    public E get(int index) {
        if (index < 0 || index >= size) {
            throw new IndexOutOfBoundsException("index " + index + " out of range [0, " + size + ")");
        }
        return (E) elements[(head + index) % elements.length];
    }

    public E peekFirst() {
        return size == 0 ? null : get(0);
    }

    public E peekLast() {
        return size == 0 ? null : get(size - 1);
    }

    @SuppressWarnings("unchecked")
    public E poll() {
        if (size == 0) {
            return null;
        }
        E value = (E) elements[head];
        elements[head] = null;
        head = (head + 1) % elements.length;
        size--;
        modCount++;
        return value;
    }

    @Override
    public void clear() {
        for (int i = 0; i < size; i++) {
            elements[(head + i) % elements.length] = null;
        }
        head = 0;
        size = 0;
        modCount++;
    }

    @Override
    public void forEach(Consumer<? super E> action) {
        Objects.requireNonNull(action);
        for (int i = 0; i < size; i++) {
            action.accept(get(i));
        }
    }

    @Override
    public Iterator<E> iterator() {
        return new Iterator<>() {
            private int cursor = 0;
            private final int expectedModCount = modCount;

            @Override
            public boolean hasNext() {
                return cursor < size;
            }

            @Override
            public E next() {
                if (expectedModCount != modCount) {
                    throw new ConcurrentModificationException();
                }
                if (!hasNext()) {
                    throw new NoSuchElementException();
                }
                return get(cursor++);
            }
        };
    }
}
