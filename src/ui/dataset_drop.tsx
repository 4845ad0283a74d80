import { useState, type DragEvent } from 'react';
import { addDroppedDataset, removeDataset } from './controller';
import { actions, usePlayground } from './store';
import type { DroppedFile } from '../worker/protocol';

async function fromFileList(files: File[]): Promise<DroppedFile[]> {
  return Promise.all(
    files.map(async (file) => ({
      name: file.name,
      path: file.webkitRelativePath || file.name,
      bytes: new Uint8Array(await file.arrayBuffer()),
    })),
  );
}

/** Recursively reads a dropped folder (DataTransferItem entries) into files with their relative paths. */
async function readEntry(
  entry: FileSystemEntry,
  prefix: string,
  out: File[],
  paths: string[],
): Promise<void> {
  if (entry.isFile) {
    const file = await new Promise<File>((resolve, reject) =>
      (entry as FileSystemFileEntry).file(resolve, reject),
    );
    out.push(file);
    paths.push(`${prefix}${file.name}`);
    return;
  }
  const reader = (entry as FileSystemDirectoryEntry).createReader();
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((resolve, reject) =>
      reader.readEntries(resolve, reject),
    );
    if (batch.length === 0) break;
    for (const child of batch) await readEntry(child, `${prefix}${entry.name}/`, out, paths);
  }
}

/** Drop zone and file pickers for user datasets, plus the list of stored ones. */
export function DatasetDrop({ selectedKey }: { selectedKey: string | null }) {
  const datasets = usePlayground((state) => state.datasets);
  const [busy, setBusy] = useState(false);
  const [hover, setHover] = useState(false);

  const accept = async (files: DroppedFile[]) => {
    setBusy(true);
    try {
      await addDroppedDataset(files);
    } finally {
      setBusy(false);
    }
  };

  const onDrop = async (event: DragEvent<HTMLDivElement>) => {
    event.preventDefault();
    setHover(false);
    const entries = [...event.dataTransfer.items]
      .map((item) => item.webkitGetAsEntry())
      .filter((e): e is FileSystemEntry => e !== null);
    if (entries.some((e) => e.isDirectory)) {
      const files: File[] = [];
      const paths: string[] = [];
      for (const entry of entries) await readEntry(entry, '', files, paths);
      const dropped = await fromFileList(files);
      await accept(dropped.map((file, i) => ({ ...file, path: paths[i] })));
    } else {
      await accept(await fromFileList([...event.dataTransfer.files]));
    }
  };

  return (
    <div className="dataset-drop">
      <div
        className={`drop-zone${hover ? ' hover' : ''}`}
        onDragOver={(e) => {
          e.preventDefault();
          setHover(true);
        }}
        onDragLeave={() => setHover(false)}
        onDrop={(e) => void onDrop(e)}
      >
        <p>
          {busy
            ? 'Reading files…'
            : 'Drop CIFAR-10 .bin / .tar.gz files or an image folder (one sub-folder per class) here, or:'}
        </p>
        <label className="file-button">
          Choose files…
          <input
            type="file"
            multiple
            data-testid="dataset-files"
            onChange={(e) => void fromFileList([...(e.target.files ?? [])]).then(accept)}
          />
        </label>
        <label className="file-button">
          Choose folder…
          <input
            type="file"
            multiple
            {...{ webkitdirectory: '' }}
            onChange={(e) => void fromFileList([...(e.target.files ?? [])]).then(accept)}
          />
        </label>
      </div>
      {datasets.length > 0 && (
        <ul className="dataset-list">
          {datasets.map((d) => (
            <li key={d.key}>
              <label>
                <input
                  type="radio"
                  name="user-dataset"
                  checked={selectedKey === d.key}
                  onChange={() => actions.setDraftDataset(d.key)}
                />
                {d.name} ({d.trainCount} train / {d.testCount} test, {d.classes.length} classes)
              </label>
              <button
                type="button"
                onClick={() => void removeDataset(d.key)}
                aria-label={`Delete dataset ${d.name}`}
              >
                Delete
              </button>
            </li>
          ))}
          <li>
            <label>
              <input
                type="radio"
                name="user-dataset"
                checked={selectedKey === null}
                onChange={() => actions.setDraftDataset(null)}
              />
              the dataset chosen above
            </label>
          </li>
        </ul>
      )}
    </div>
  );
}
