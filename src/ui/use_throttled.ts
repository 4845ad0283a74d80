import { useEffect, useRef, useState } from 'react';

/** `value`, but updated at most every `ms` milliseconds (plots redraw at a readable pace during fast runs). */
export function useThrottled<T>(value: T, ms: number): T {
  const [throttled, setThrottled] = useState(value);
  const lastUpdate = useRef(0);
  useEffect(() => {
    const wait = lastUpdate.current + ms - performance.now();
    const timer = setTimeout(
      () => {
        lastUpdate.current = performance.now();
        setThrottled(value);
      },
      Math.max(0, wait),
    );
    return () => clearTimeout(timer);
  }, [value, ms]);
  return throttled;
}
