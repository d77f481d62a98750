import path from 'node:path';

/** Where the generated types of a schema folder go: that aggregate's slice under services/. */
export const generatedTypesFile = (folder: string) => path.join(path.resolve(__dirname, '..'), 'services', folder, 'events.generated.ts');
