package org.example.collections;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.ConcurrentModificationException;
import java.util.Iterator;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class RingBufferTest {

    private RingBuffer<String> buffer;

    @BeforeEach
    void setUp() {
        buffer = new RingBuffer<>(3);
    }

    @Test
    @DisplayName("oldest element is overwritten when full")
    void overwritesOldest() {
        buffer.add("a");
        buffer.add("b");
        buffer.add("c");
        buffer.add("d");
        assertEquals(3, buffer.size());
        assertEquals("b", buffer.peekFirst());
        assertEquals("d", buffer.peekLast());
    }

    @Test
    void pollReturnsInInsertionOrder() {
        List<String> drained = new ArrayList<>();
        buffer.addAll(List.of("x", "y"));
        String s;
        while ((s = buffer.poll()) != null) {
            drained.add(s);
        }
        assertEquals(List.of("x", "y"), drained);
        assertNull(buffer.poll());
    }

    @ParameterizedTest
    @ValueSource(ints = {0, -1, Integer.MIN_VALUE})
    void rejectsNonPositiveCapacity(int capacity) {
        assertThrows(IllegalArgumentException.class, () -> new RingBuffer<Integer>(capacity));
    }

    @Test
    void iteratorFailsFastOnModification() {
        buffer.add("one");
        buffer.add("two");
        Iterator<String> it = buffer.iterator();
        it.next();
        buffer.add("three");
        assertThrows(ConcurrentModificationException.class, it::next);
    }

    @Test
    void clearEmptiesBuffer() {
        for (int i = 0; i < 10; i++) {
            buffer.add(Integer.toString(i));
        }
        assertTrue(buffer.isFull());
        buffer.clear();
        assertEquals(0, buffer.size());
        assertThrows(IndexOutOfBoundsException.class, () -> buffer.get(0));
    }
}
